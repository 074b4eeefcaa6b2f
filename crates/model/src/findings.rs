//! Findings: the product's language for what is wrong or missing in a message.
//!
//! Every stage that judges a message (reading, schema validation, completeness
//! rules, routing) speaks in [`Finding`]s. A finding names a stable `code`, a
//! `category`, a `severity`, where in the message it is (`path`, `line`,
//! `column`), a text for people in Norwegian (bokmål) and English, and the
//! AppRec error code (list 8221) it maps to, if any.
//!
//! Texts never quote patient data: they may quote a short value from a coded
//! or typed field (a score, a date, a code) so the sender can find it, never a
//! name, a national id or free text.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational; never changes the verdict.
    Info,
    /// Delivered, but the sender and receiver are told.
    Warning,
    /// The message cannot be processed; it is rejected (AppRec status 2).
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of check produced a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The bytes are not well-formed XML, or are hostile (DTD, size, depth, encoding).
    Wellformedness,
    /// The XML does not validate against the official schemas.
    Schema,
    /// A code is not in the code list it belongs to.
    Codelist,
    /// Patient or party identity is missing or wrong.
    Identity,
    /// The message breaks its message profile (HIS 1143–1149) beyond the schema.
    Profile,
    /// Clinical completeness: something the receiver needs is missing.
    Completeness,
    /// The message cannot be routed (unknown receiver, unsupported type).
    Routing,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Wellformedness => "wellformedness",
            Category::Schema => "schema",
            Category::Codelist => "codelist",
            Category::Identity => "identity",
            Category::Profile => "profile",
            Category::Completeness => "completeness",
            Category::Routing => "routing",
        }
    }

    /// True for the categories that make up the schema-level verdict, the one
    /// that must agree with libxml2 and the official XSDs.
    pub fn is_schema_level(self) -> bool {
        matches!(self, Category::Wellformedness | Category::Schema)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that is wrong or missing in a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code, documented in `docs/FINDINGS.md` (or a rule id).
    pub code: String,
    pub category: Category,
    pub severity: Severity,
    /// Absolute path of local names with 1-based indexes on elements that may
    /// repeat; for a missing element it ends with the missing element's name.
    /// Empty when the finding concerns the whole input.
    pub path: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// For people, in Norwegian (bokmål).
    pub text_nb: String,
    /// For people, in English.
    pub text_en: String,
    /// The AppRec error code (code list 8221) this finding maps to, if any.
    pub apprec_error: Option<String>,
}

impl Finding {
    /// A finding with no position; set it with [`Finding::at`].
    pub fn new(
        code: impl Into<String>,
        category: Category,
        severity: Severity,
        text_nb: impl Into<String>,
        text_en: impl Into<String>,
    ) -> Self {
        Finding {
            code: code.into(),
            category,
            severity,
            path: String::new(),
            line: 0,
            column: 0,
            text_nb: text_nb.into(),
            text_en: text_en.into(),
            apprec_error: None,
        }
    }

    /// Sets the place in the message.
    pub fn at(mut self, path: impl Into<String>, line: u32, column: u32) -> Self {
        self.path = path.into();
        self.line = line;
        self.column = column;
        self
    }

    /// Sets the AppRec error code (list 8221).
    pub fn apprec(mut self, code: &str) -> Self {
        self.apprec_error = Some(code.to_owned());
        self
    }

    /// The text in the requested language.
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Nb => &self.text_nb,
            Lang::En => &self.text_en,
        }
    }
}

/// The two languages findings are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Nb,
    En,
}

/// The outcome for a whole message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    AcceptedWithWarnings,
    Rejected,
}

impl Verdict {
    /// Rejected when any finding is an error; with warnings when any is a
    /// warning; accepted otherwise.
    pub fn of(findings: &[Finding]) -> Verdict {
        let worst = findings.iter().map(|f| f.severity).max();
        match worst {
            Some(Severity::Error) => Verdict::Rejected,
            Some(Severity::Warning) => Verdict::AcceptedWithWarnings,
            _ => Verdict::Accepted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::AcceptedWithWarnings => "accepted_with_warnings",
            Verdict::Rejected => "rejected",
        }
    }
}

/// The finding for input that could not be read as XML at all.
pub fn from_xml_error(e: &overgang_xml::XmlError) -> Finding {
    use overgang_xml::XmlErrorKind as K;
    let (code, nb, en): (&str, String, String) = match &e.kind {
        K::Empty => ("XML001", "Meldingen er tom.".into(), "The message is empty.".into()),
        K::TooLarge { size, limit } => (
            "XML002",
            format!("Meldingen er {size} byte, over grensen på {limit} byte."),
            format!("The message is {size} bytes, over the limit of {limit} bytes."),
        ),
        K::TooDeep { limit } => (
            "XML003",
            format!("Elementene er nøstet dypere enn grensen på {limit} nivåer."),
            format!("Elements are nested deeper than the limit of {limit} levels."),
        ),
        K::TooManyAttributes { limit } => (
            "XML003",
            format!("Et element har flere enn {limit} attributter."),
            format!("An element has more than {limit} attributes."),
        ),
        K::Dtd => (
            "XML004",
            "Meldingen har en dokumenttypedeklarasjon (DTD). Det er ikke tillatt.".into(),
            "The message has a document type declaration (DTD). That is not allowed.".into(),
        ),
        K::UnsupportedEncoding(name) => (
            "XML005",
            format!("Tegnsettet «{name}» støttes ikke. Bruk UTF-8 eller ISO-8859-1."),
            format!("The encoding «{name}» is not supported. Use UTF-8 or ISO-8859-1."),
        ),
        K::InvalidEncoding(enc) => (
            "XML006",
            format!("Meldingen inneholder bytes som ikke er gyldig {enc}. Stemmer tegnsettet i XML-deklarasjonen?"),
            format!("The message contains bytes that are not valid {enc}. Is the encoding in the XML declaration right?"),
        ),
        K::IllegalChar(c) => (
            "XML007",
            format!("Tegnet U+{c:04X} er ikke tillatt i XML."),
            format!("The character U+{c:04X} is not allowed in XML."),
        ),
        K::NotXml => (
            "XML008",
            "Meldingen er ikke XML.".into(),
            "The message is not XML.".into(),
        ),
        other => (
            "XML009",
            format!("Meldingen er ikke velformet XML: {}.", nb_xml_error(other)),
            format!("The message is not well-formed XML: {other}."),
        ),
    };
    Finding::new(code, Category::Wellformedness, Severity::Error, nb, en)
        .at("", e.line, e.column)
        .apprec("T01")
}

fn nb_xml_error(kind: &overgang_xml::XmlErrorKind) -> String {
    use overgang_xml::XmlErrorKind as K;
    match kind {
        K::NoRoot => "dokumentet har ikke noe rotelement".into(),
        K::ContentAfterRoot => "det står innhold etter rotelementet".into(),
        K::TextBeforeRoot => "det står tekst før rotelementet".into(),
        K::MismatchedEndTag { expected, found } => {
            format!("slutt-taggen </{found}> passer ikke til start-taggen <{expected}>")
        }
        K::UnmatchedEndTag(t) => format!("slutt-taggen </{t}> har ingen start-tagg"),
        K::Unclosed(t) => format!("elementet <{t}> er ikke lukket"),
        K::UndeclaredPrefix(p) => format!("navneromsprefikset «{p}» er ikke deklarert"),
        K::DuplicateAttribute(a) => format!("attributtet «{a}» står mer enn én gang"),
        K::BadName(n) => format!("«{n}» er ikke et gyldig XML-navn"),
        K::UndefinedEntity(n) => {
            format!("entiteten «&{n};» er ikke definert (bare de fem forhåndsdefinerte er det)")
        }
        K::BadCharRef => "en tegnreferanse er ugyldig".into(),
        K::Syntax(s) => format!("syntaksfeil ({s})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_follows_the_worst_severity() {
        let f = |s| Finding::new("X", Category::Schema, s, "nb", "en");
        assert_eq!(Verdict::of(&[]), Verdict::Accepted);
        assert_eq!(Verdict::of(&[f(Severity::Info)]), Verdict::Accepted);
        assert_eq!(
            Verdict::of(&[f(Severity::Info), f(Severity::Warning)]),
            Verdict::AcceptedWithWarnings
        );
        assert_eq!(
            Verdict::of(&[f(Severity::Warning), f(Severity::Error)]),
            Verdict::Rejected
        );
    }

    #[test]
    fn serialises_with_the_documented_field_names() {
        let f = Finding::new("SCH001", Category::Schema, Severity::Error, "nb", "en")
            .at("/MsgHead/MsgInfo", 3, 2)
            .apprec("T02");
        let v = serde_json::to_value(&f).unwrap();
        for k in [
            "code",
            "category",
            "severity",
            "path",
            "line",
            "column",
            "text_nb",
            "text_en",
            "apprec_error",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["category"], "schema");
        assert_eq!(v["severity"], "error");
        assert_eq!(v["apprec_error"], "T02");
    }

    #[test]
    fn xml_errors_become_wellformedness_findings_mapped_to_t01() {
        let e = overgang_xml::parse(b"<a><b></a>", &Default::default()).unwrap_err();
        let f = from_xml_error(&e);
        assert_eq!(f.category, Category::Wellformedness);
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.apprec_error.as_deref(), Some("T01"));
        assert_eq!(f.line, 1);
        assert!(f.text_nb.contains("passer ikke"), "{}", f.text_nb);
    }
}
