//! Application receipts (AppRec v1.0 and v1.1, HIS 80415).
//!
//! [`build`] writes the AppRec that answers a received message from its
//! model ([`Message`]) and its findings; [`read`] reads a received AppRec.
//! The caller supplies the receipt's own message id and generation time:
//! nothing here reads a clock or makes random numbers.
//!
//! Status policy (list 8258), following HIS 80415 §3.3 and §4.3.1:
//!
//! - any finding with severity error → `2` Avvist, with one `Error` per
//!   distinct list 8221 code;
//! - otherwise → `1` OK, with **no** `Error` (the standard says an OK receipt
//!   carries no errors); warnings reach the sender through the gateway's own
//!   response, not the AppRec;
//! - only when [`AppRecOptions::status3_for_warnings`] is set, warnings give
//!   `3` "OK, feil i delmelding" with their `Error`s. The standard reserves
//!   status 3 for messages made of part-messages (claims to Helfo), which PLO
//!   messages are not, so it is off by default.
//!
//! Info findings never appear. A finding without an AppRec code, or with one
//! not in list 8221, is reported as `X99` (other error).
//!
//! Pure: no IO, no clock, no global state.

use overgang_codelists::CodeLists;
use overgang_model::{
    AppRecInfo, Coded, Finding, HealthcareProfessional, Message, Organisation, Party, Severity,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use overgang_model::AppRecStatus;

/// AppRec v1.0 namespace.
pub const NS_V1_0: &str = "http://www.kith.no/xmlstds/apprec/2004-11-21";
/// AppRec v1.1 namespace.
pub const NS_V1_1: &str = "http://www.kith.no/xmlstds/apprec/2012-02-15";
/// OID of list 8221 (AppRec error codes).
pub const OID_8221: &str = "2.16.578.1.12.4.1.1.8221";
/// Longest `OT` text written per `Error`, in characters.
pub const MAX_OT_CHARS: usize = 1000;
/// Most findings described in one `Error`'s `OT`.
pub const MAX_FINDINGS_PER_ERROR: usize = 5;

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppRecError {
    #[error("the AppRec's GenDate is not an xs:dateTime")]
    InvalidGenDate,
    #[error("the AppRec's message id is empty")]
    EmptyMsgId,
    #[error("the input is not XML: {0}")]
    Xml(#[from] overgang_xml::XmlError),
    #[error("the document is not an AppRec (root {0})")]
    NotAnAppRec(String),
}

/// Which AppRec version to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AppRecVersion {
    V1_0,
    #[default]
    V1_1,
}

impl AppRecVersion {
    pub fn namespace(self) -> &'static str {
        match self {
            AppRecVersion::V1_0 => NS_V1_0,
            AppRecVersion::V1_1 => NS_V1_1,
        }
    }
    pub fn mig_version(self) -> &'static str {
        match self {
            AppRecVersion::V1_0 => "1.0 2004-11-21",
            AppRecVersion::V1_1 => "v1.1 2012-02-15",
        }
    }
}

/// The answering party's role towards the received message (list 8112).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReceiverRole {
    /// `PRIM` primary receiver.
    #[default]
    Primary,
    /// `COP` copy receiver.
    Copy,
}

/// How to write the receipt.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AppRecOptions {
    pub version: AppRecVersion,
    /// Warnings give status 3 with their errors (default: status 1, none listed).
    pub status3_for_warnings: bool,
    /// Role written in v1.1 `Sender/Role`.
    pub role: ReceiverRole,
    pub software_name: Option<String>,
    pub software_version: Option<String>,
}

/// The receipt's own identity, supplied by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReceipt<'a> {
    /// The AppRec's `Id` (a UUID).
    pub msg_id: &'a str,
    /// The AppRec's `GenDate` (xs:dateTime).
    pub gen_date: &'a str,
}

/// One `Error` of the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorEntry {
    /// List 8221 code.
    pub code: String,
    /// The list's display text.
    pub display: String,
    /// Our additional text (`OT`): the findings' Norwegian texts and paths.
    pub ot: String,
    /// The finding codes behind it.
    pub findings: Vec<String>,
}

/// A written receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRec {
    pub status: AppRecStatus,
    pub errors: Vec<ErrorEntry>,
    /// True when `OriginalMsgId/IssueDate` is not the received GenDate (it
    /// was missing or invalid, so the receipt's own GenDate stands in).
    pub issue_date_substituted: bool,
    /// The XML document (UTF-8, with declaration).
    pub xml: String,
}

/// The status the findings give under `opts`.
pub fn status_for(findings: &[Finding], opts: &AppRecOptions) -> AppRecStatus {
    if findings.iter().any(|f| f.severity == Severity::Error) {
        AppRecStatus::Rejected
    } else if opts.status3_for_warnings && findings.iter().any(|f| f.severity == Severity::Warning)
    {
        AppRecStatus::OkWithErrors
    } else {
        AppRecStatus::Ok
    }
}

/// The `Error` entries for a status: one per distinct 8221 code, in order of
/// first appearance.
pub fn error_entries(
    findings: &[Finding],
    status: AppRecStatus,
    lists: &CodeLists,
) -> Vec<ErrorEntry> {
    let wanted = match status {
        AppRecStatus::Ok => return Vec::new(),
        AppRecStatus::Rejected => Severity::Error,
        AppRecStatus::OkWithErrors => Severity::Warning,
    };
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.severity == wanted) {
        let code = f
            .apprec_error
            .as_deref()
            .map(str::trim)
            .filter(|c| lists.contains(8221, c))
            .unwrap_or("X99")
            .to_owned();
        if !groups.contains_key(&code) {
            order.push(code.clone());
        }
        groups.entry(code).or_default().push(f);
    }
    order
        .into_iter()
        .map(|code| {
            let fs = groups.remove(&code).unwrap_or_default();
            let display = lists
                .display(8221, &code)
                .unwrap_or("Annen feil")
                .to_owned();
            let mut ot = String::new();
            let mut seen: Vec<(&str, &str)> = Vec::new();
            for f in &fs {
                let key = (f.text_nb.as_str(), f.path.as_str());
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                if seen.len() > MAX_FINDINGS_PER_ERROR {
                    continue;
                }
                if !ot.is_empty() {
                    ot.push_str(" | ");
                }
                ot.push_str(f.text_nb.trim());
                if !f.path.is_empty() {
                    let _ = write!(ot, " [{}]", f.path);
                } else if f.line > 0 {
                    let _ = write!(ot, " [linje {}, kolonne {}]", f.line, f.column);
                }
            }
            if seen.len() > MAX_FINDINGS_PER_ERROR {
                let _ = write!(ot, " | (+{} flere)", seen.len() - MAX_FINDINGS_PER_ERROR);
            }
            let ot = truncate(&ot, MAX_OT_CHARS);
            let mut codes: Vec<String> = fs.iter().map(|f| f.code.clone()).collect();
            codes.dedup();
            ErrorEntry {
                code,
                display,
                ot,
                findings: codes,
            }
        })
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Builds the AppRec answering `received`, judged by `findings`.
///
/// For input so broken that nothing could be read, pass
/// `Message::default()`: the receipt then has empty parties (`<HCP><Inst/></HCP>`),
/// an `OriginalMsgId` with no type code, an empty `Id`, and the receipt's own
/// GenDate as `IssueDate`.
pub fn build(
    received: &Message,
    findings: &[Finding],
    new: &NewReceipt<'_>,
    opts: &AppRecOptions,
) -> Result<AppRec, AppRecError> {
    build_with(received, findings, new, opts, &CodeLists::builtin())
}

/// As [`build`], with the code lists supplied.
pub fn build_with(
    received: &Message,
    findings: &[Finding],
    new: &NewReceipt<'_>,
    opts: &AppRecOptions,
    lists: &CodeLists,
) -> Result<AppRec, AppRecError> {
    let gen_date = new.gen_date.trim();
    if !is_xs_datetime(gen_date) {
        return Err(AppRecError::InvalidGenDate);
    }
    if new.msg_id.trim().is_empty() {
        return Err(AppRecError::EmptyMsgId);
    }
    let status = status_for(findings, opts);
    let errors = error_entries(findings, status, lists);
    let v11 = opts.version == AppRecVersion::V1_1;

    let mut w = String::with_capacity(2048);
    w.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(w, "<AppRec xmlns=\"{}\">", opts.version.namespace());
    w.push_str("  <MsgType V=\"APPREC\" DN=\"Applikasjonskvittering\"/>\n");
    elem(&mut w, 1, "MIGversion", opts.version.mig_version());
    if let Some(s) = &opts.software_name {
        elem(&mut w, 1, "SoftwareName", s);
    }
    if let Some(s) = &opts.software_version {
        elem(&mut w, 1, "SoftwareVersion", s);
    }
    elem(&mut w, 1, "GenDate", gen_date);
    elem(&mut w, 1, "Id", new.msg_id.trim());

    // Sender = the received message's receiver; Receiver = its sender.
    w.push_str("  <Sender>\n");
    if v11 {
        let (v, dn) = match opts.role {
            ReceiverRole::Primary => ("PRIM", "Primærmottaker"),
            ReceiverRole::Copy => ("COP", "Kopimottaker"),
        };
        cs(&mut w, 2, "Role", Some(v), Some(dn));
    }
    hcp(&mut w, received.receiver());
    w.push_str("  </Sender>\n  <Receiver>\n");
    if v11 {
        cs(&mut w, 2, "Role", Some("AVS"), Some("Avsender"));
    }
    hcp(&mut w, received.sender());
    w.push_str("  </Receiver>\n");

    cs(
        &mut w,
        1,
        "Status",
        Some(status.code()),
        Some(status.display()),
    );
    for e in &errors {
        let _ = writeln!(
            w,
            "  <Error V=\"{}\" S=\"{OID_8221}\" DN=\"{}\" OT=\"{}\"/>",
            esc(&e.code),
            esc(&e.display),
            esc(&e.ot)
        );
    }

    let head = received.head.as_ref();
    let orig_type = head.and_then(|h| h.msg_type.as_ref());
    let orig_date = head
        .and_then(|h| h.gen_date.as_deref())
        .map(str::trim)
        .filter(|d| is_xs_datetime(d));
    let issue_date_substituted = orig_date.is_none();
    w.push_str("  <OriginalMsgId>\n");
    cs(
        &mut w,
        2,
        "MsgType",
        orig_type.and_then(Coded::code).map(collapse).as_deref(),
        orig_type.and_then(|t| t.dn.as_deref()),
    );
    elem(&mut w, 2, "IssueDate", orig_date.unwrap_or(gen_date));
    elem(
        &mut w,
        2,
        "Id",
        received.msg_id().map(str::trim).unwrap_or(""),
    );
    w.push_str("  </OriginalMsgId>\n</AppRec>\n");

    Ok(AppRec {
        status,
        errors,
        issue_date_substituted,
        xml: w,
    })
}

/// Reads a received AppRec (bare, or inside a MsgHead).
pub fn read(bytes: &[u8], limits: &overgang_xml::Limits) -> Result<AppRecInfo, AppRecError> {
    let doc = overgang_xml::parse(bytes, limits)?;
    let m = Message::read(&doc);
    let root = format!("{{{}}}{}", m.root_ns, m.root_name);
    m.apprec.ok_or(AppRecError::NotAnAppRec(root))
}

fn indent(w: &mut String, level: usize) {
    for _ in 0..level {
        w.push_str("  ");
    }
}

fn elem(w: &mut String, level: usize, name: &str, value: &str) {
    indent(w, level);
    let _ = writeln!(w, "<{name}>{}</{name}>", esc(value));
}

fn cs(w: &mut String, level: usize, name: &str, v: Option<&str>, dn: Option<&str>) {
    indent(w, level);
    let _ = write!(w, "<{name}");
    if let Some(v) = v.map(collapse).filter(|v| !v.is_empty()) {
        let _ = write!(w, " V=\"{}\"", esc(&v));
    }
    if let Some(dn) = dn {
        let _ = write!(w, " DN=\"{}\"", esc(dn));
    }
    w.push_str("/>\n");
}

/// xs:token: no leading/trailing/double spaces, no tabs or line ends.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Index of the identifier written as `Id`/`TypeId`: the HER-id, else the first with an id.
fn best_ident(idents: &[overgang_model::Ident]) -> Option<usize> {
    idents
        .iter()
        .position(|i| i.type_code() == Some("HER") && i.id.is_some())
        .or_else(|| idents.iter().position(|i| i.id.is_some()))
}

fn id_fields(w: &mut String, level: usize, idents: &[overgang_model::Ident]) {
    if let Some(i) = best_ident(idents).and_then(|b| idents.get(b)) {
        elem(w, level, "Id", i.id.as_deref().unwrap_or(""));
        let t = i.type_id.as_ref();
        cs(
            w,
            level,
            "TypeId",
            t.and_then(Coded::code),
            t.and_then(|t| t.dn.as_deref()),
        );
    }
}

fn additional_ids(w: &mut String, level: usize, idents: &[overgang_model::Ident]) {
    let best = best_ident(idents);
    for (n, i) in idents.iter().enumerate() {
        if Some(n) == best {
            continue;
        }
        let (Some(id), Some(t)) = (i.id.as_deref(), i.type_id.as_ref()) else {
            continue;
        };
        indent(w, level);
        w.push_str("<AdditionalId>\n");
        elem(w, level + 1, "Id", id);
        cs(w, level + 1, "Type", t.code(), t.dn.as_deref());
        indent(w, level);
        w.push_str("</AdditionalId>\n");
    }
}

fn hcp(w: &mut String, party: Option<&Party>) {
    let org: Option<&Organisation> = party.and_then(|p| p.organisation.as_ref());
    w.push_str("    <HCP>\n");
    match org {
        None => w.push_str("      <Inst/>\n"),
        Some(o) => {
            w.push_str("      <Inst>\n");
            if let Some(n) = &o.name {
                elem(w, 4, "Name", n);
            }
            id_fields(w, 4, &o.idents);
            if let Some(d) = o.sub_organisation.as_deref() {
                w.push_str("        <Dept>\n");
                if let Some(n) = &d.name {
                    elem(w, 5, "Name", n);
                }
                id_fields(w, 5, &d.idents);
                additional_ids(w, 5, &d.idents);
                w.push_str("        </Dept>\n");
            }
            additional_ids(w, 4, &o.idents);
            // A person at level 2 (e.g. the GP); one nested under the
            // department is also a person at the institution.
            let person: Option<&HealthcareProfessional> = o.professional.as_ref().or_else(|| {
                o.sub_organisation
                    .as_deref()
                    .and_then(|d| d.professional.as_ref())
            });
            if let Some(p) = person {
                w.push_str("        <HCPerson>\n");
                if let Some(n) = p.full_name() {
                    elem(w, 5, "Name", &n);
                }
                id_fields(w, 5, &p.idents);
                additional_ids(w, 5, &p.idents);
                w.push_str("        </HCPerson>\n");
            }
            w.push_str("      </Inst>\n");
        }
    }
    w.push_str("    </HCP>\n");
}

/// Escapes text for element content and attribute values. Characters XML 1.0
/// does not allow are dropped.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' => o.push_str("&#9;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => o.push(c),
        }
    }
    o
}

/// True for a lexically valid xs:dateTime (`[-]YYYY-MM-DDThh:mm:ss[.f+][Z|±hh:mm]`)
/// with a real calendar day.
pub fn is_xs_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i = 1;
    }
    let ys = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let ylen = i - ys;
    if ylen < 4 || (ylen > 4 && b[ys] == b'0') {
        return false;
    }
    let Ok(year) = s[ys..i].parse::<i64>() else {
        return false;
    };
    if year == 0 {
        return false;
    }
    let rest = &s[i..];
    let r = rest.as_bytes();
    // -MM-DDThh:mm:ss
    if r.len() < 15 {
        return false;
    }
    let num2 = |at: usize| -> Option<u32> {
        let (a, b2) = (*r.get(at)?, *r.get(at + 1)?);
        (a.is_ascii_digit() && b2.is_ascii_digit()).then(|| ((a - b'0') * 10 + (b2 - b'0')) as u32)
    };
    if r[0] != b'-' || r[3] != b'-' || r[6] != b'T' || r[9] != b':' || r[12] != b':' {
        return false;
    }
    let (Some(mo), Some(d), Some(h), Some(mi), Some(sec)) =
        (num2(1), num2(4), num2(7), num2(10), num2(13))
    else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let mdays = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if d == 0 || d > mdays || mi > 59 || sec > 59 || h > 24 {
        return false;
    }
    let mut j = 15;
    let mut frac_nonzero = false;
    if r.get(j) == Some(&b'.') {
        j += 1;
        let fs = j;
        while j < r.len() && r[j].is_ascii_digit() {
            frac_nonzero |= r[j] != b'0';
            j += 1;
        }
        if j == fs {
            return false;
        }
    }
    if h == 24 && (mi != 0 || sec != 0 || frac_nonzero) {
        return false;
    }
    let tz = &r[j..];
    match tz {
        [] | [b'Z'] => true,
        [sign, _, _, b':', _, _] if *sign == b'+' || *sign == b'-' => {
            let (Some(th), Some(tm)) = (num2(j + 1), num2(j + 4)) else {
                return false;
            };
            tm <= 59 && (th < 14 || (th == 14 && tm == 0))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overgang_model::Category;

    #[test]
    fn datetimes() {
        for ok in [
            "2018-01-30T15:34:47",
            "2009-09-10T11:31:54.148+02:00",
            "2024-02-29T00:00:00Z",
            "2018-01-30T24:00:00",
        ] {
            assert!(is_xs_datetime(ok), "{ok}");
        }
        for bad in [
            "",
            "2018-01-30",
            "2018-02-30T10:00:00",
            "2023-02-29T10:00:00",
            "2018-01-30 15:34:47",
            "2018-13-01T00:00:00",
            "2018-01-30T15:34:47+2:00",
            "2018-01-30T15:34:47.",
            "2018-01-30T24:00:01",
            "0000-01-01T00:00:00",
            "18-01-30T15:34:47",
        ] {
            assert!(!is_xs_datetime(bad), "{bad}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(esc("a<&>\"'\n\u{1}b"), "a&lt;&amp;&gt;&quot;&apos;&#10;b");
    }

    fn f(code: &str, sev: Severity, apprec: Option<&str>, path: &str) -> Finding {
        let mut f =
            Finding::new(code, Category::Schema, sev, format!("nb {code}"), "en").at(path, 1, 1);
        f.apprec_error = apprec.map(str::to_owned);
        f
    }

    #[test]
    fn status_policy() {
        let o = AppRecOptions::default();
        let o3 = AppRecOptions {
            status3_for_warnings: true,
            ..Default::default()
        };
        assert_eq!(status_for(&[], &o), AppRecStatus::Ok);
        let w = [f("W", Severity::Warning, None, "/a")];
        assert_eq!(status_for(&w, &o), AppRecStatus::Ok);
        assert_eq!(status_for(&w, &o3), AppRecStatus::OkWithErrors);
        let e = [
            f("W", Severity::Warning, None, "/a"),
            f("E", Severity::Error, Some("T02"), "/b"),
        ];
        assert_eq!(status_for(&e, &o3), AppRecStatus::Rejected);
        assert_eq!(
            status_for(&[f("I", Severity::Info, None, "")], &o3),
            AppRecStatus::Ok
        );
    }

    #[test]
    fn errors_are_grouped_by_code_and_unknown_codes_become_x99() {
        let lists = CodeLists::builtin();
        let fs = [
            f("S1", Severity::Error, Some("T02"), "/a"),
            f("S2", Severity::Error, Some("T02"), "/b"),
            f("S2", Severity::Error, Some("T02"), "/b"),
            f("R1", Severity::Error, None, "/c"),
            f("R2", Severity::Error, Some("Q42"), "/d"),
            f("W1", Severity::Warning, Some("E31"), "/e"),
        ];
        let e = error_entries(&fs, AppRecStatus::Rejected, &lists);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].code, "T02");
        assert_eq!(e[0].display, "XML validerer ikke");
        assert_eq!(e[0].ot, "nb S1 [/a] | nb S2 [/b]");
        assert_eq!(e[1].code, "X99");
        assert_eq!(e[1].findings, ["R1", "R2"]);
        assert!(error_entries(&fs, AppRecStatus::Ok, &lists).is_empty());
    }

    #[test]
    fn ot_is_bounded() {
        let lists = CodeLists::builtin();
        let fs: Vec<_> = (0..50)
            .map(|i| f("S", Severity::Error, Some("T02"), &format!("/x{i}")))
            .collect();
        let e = error_entries(&fs, AppRecStatus::Rejected, &lists);
        assert!(e[0].ot.ends_with("(+45 flere)"), "{}", e[0].ot);
        assert!(e[0].ot.chars().count() <= MAX_OT_CHARS);
    }

    #[test]
    fn caller_supplies_a_valid_gen_date_and_id() {
        let m = Message::default();
        let o = AppRecOptions::default();
        let bad = NewReceipt {
            msg_id: "x",
            gen_date: "yesterday",
        };
        assert_eq!(
            build(&m, &[], &bad, &o).unwrap_err(),
            AppRecError::InvalidGenDate
        );
        let bad = NewReceipt {
            msg_id: " ",
            gen_date: "2024-01-01T00:00:00",
        };
        assert_eq!(
            build(&m, &[], &bad, &o).unwrap_err(),
            AppRecError::EmptyMsgId
        );
    }
}
