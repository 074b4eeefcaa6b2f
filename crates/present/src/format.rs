//! Pure string formatting: dates in Norwegian form, element names split into
//! words, free text tidied into lines. No clock, no locale tables.

use maud::{html, Markup};

/// An `xs:date`, `xs:dateTime` or `xs:gYearMonth` as Norwegians write it:
/// `dd.mm.yyyy`, `dd.mm.yyyy hh:mm`, `mm.yyyy`. A time zone
/// is dropped (the value is shown as written, not converted); seconds are
/// dropped. `None` when `s` is not one of those forms. A bare year is not
/// taken for a date (postal codes and ids look the same).
pub fn norwegian_date(s: &str) -> Option<String> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<&str> {
        let part = s.get(r)?;
        (!part.is_empty() && part.bytes().all(|c| c.is_ascii_digit())).then_some(part)
    };
    let year = digits(0..4)?;
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(5..7)?;
    if !in_range(month, 1, 12) {
        return None;
    }
    if b.len() == 7 {
        return Some(format!("{month}.{year}"));
    }
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(8..10)?;
    if !in_range(day, 1, 31) {
        return None;
    }
    let date = format!("{day}.{month}.{year}");
    let rest = s.get(10..)?;
    if rest.is_empty() || is_zone(rest) {
        return Some(date);
    }
    let time = rest.strip_prefix('T')?;
    let tb = time.as_bytes();
    let hour = time
        .get(0..2)
        .filter(|h| h.bytes().all(|c| c.is_ascii_digit()))?;
    let minute = time
        .get(3..5)
        .filter(|m| m.bytes().all(|c| c.is_ascii_digit()))?;
    if tb.get(2) != Some(&b':') || !in_range(hour, 0, 24) || !in_range(minute, 0, 59) {
        return None;
    }
    // Seconds, fractions and a zone may follow; check they are only that.
    let tail = time.get(5..)?;
    let tail = match tail.strip_prefix(':') {
        Some(t) => {
            let sec = t
                .get(0..2)
                .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))?;
            if !in_range(sec, 0, 60) {
                return None;
            }
            let t = t.get(2..)?;
            match t.strip_prefix('.') {
                Some(f) => f.trim_start_matches(|c: char| c.is_ascii_digit()),
                None => t,
            }
        }
        None => tail,
    };
    if !(tail.is_empty() || is_zone(tail)) {
        return None;
    }
    Some(format!("{date} {hour}:{minute}"))
}

fn in_range(digits: &str, lo: u32, hi: u32) -> bool {
    digits.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n))
}

/// `Z`, `+hh:mm` or `-hh:mm`.
fn is_zone(s: &str) -> bool {
    if s == "Z" {
        return true;
    }
    let b = s.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
}

/// The first date written in free text, as `dd.mm.yyyy` when it is an ISO
/// date, else as written (`22.01.18`): used for the assessment date that the
/// PLO profiles put in `SamletVurderingFunksjonsniva/Merknad`.
pub fn date_in_text(text: &str) -> Option<String> {
    let words =
        text.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')');
    for w in words {
        let w = w.trim_end_matches('.');
        if let Some(d) = norwegian_date(w).filter(|_| w.len() >= 10) {
            return Some(d);
        }
        let parts: Vec<&str> = w.split('.').collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
            && parts[0].len() <= 2
            && parts[1].len() <= 2
            && (parts[2].len() == 2 || parts[2].len() == 4)
            && in_range(parts[0], 1, 31)
            && in_range(parts[1], 1, 12)
        {
            return Some(w.to_owned());
        }
    }
    None
}

/// Splits a CamelCase element name into words, the first capitalised and
/// the rest in lower case: `InformasjonOmForsendelsen` → `Informasjon om
/// forsendelsen`. Runs of capitals (acronyms) stay as they are.
pub fn split_camel(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        let boundary =
            c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
        if (boundary || c == '_' || c == '-' || c == '.') && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        if c != '_' && c != '-' && c != '.' {
            cur.push(c);
        }
        prev = Some(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
            let mut cs = w.chars();
            let first = cs.next();
            let second = cs.next();
            // Keep acronyms ("IPLOS") as written.
            if second.is_some_and(|s| s.is_uppercase()) {
                out.push_str(w);
            } else {
                out.extend(w.chars().take(1).flat_map(char::to_lowercase));
                out.push_str(w.get(first.map_or(0, char::len_utf8)..).unwrap_or(""));
            }
        } else {
            out.push_str(w);
        }
    }
    out
}

/// Free text as paragraphs of lines: line endings unified, each line
/// trimmed (the examples indent continuation lines with tabs), blank lines
/// separating paragraphs.
pub fn paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// True when the text has more than one line once tidied.
pub fn is_multiline(text: &str) -> bool {
    let p = paragraphs(text);
    p.len() > 1 || p.first().is_some_and(|l| l.len() > 1)
}

/// Free text as `<p>` paragraphs with `<br>` between lines.
pub fn text_block(text: &str) -> Markup {
    html! {
        @for para in paragraphs(text) {
            p.free-text {
                @for (i, line) in para.iter().enumerate() {
                    @if i > 0 { br; }
                    (line)
                }
            }
        }
    }
}

/// A single line of text: whitespace runs collapsed.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A telecom address without its URL scheme (`tel:73555555` → `73555555`).
pub fn tele_address(v: &str) -> &str {
    let v = v.trim();
    for scheme in ["tel:", "fax:", "mailto:", "sms:"] {
        if v.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            return v.get(scheme.len()..).unwrap_or(v).trim();
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_norwegian_form() {
        assert_eq!(norwegian_date("2018-01-30").as_deref(), Some("30.01.2018"));
        assert_eq!(
            norwegian_date("2018-01-30T15:56:13").as_deref(),
            Some("30.01.2018 15:56")
        );
        assert_eq!(
            norwegian_date("2018-01-30T15:56").as_deref(),
            Some("30.01.2018 15:56")
        );
        assert_eq!(
            norwegian_date("2018-01-30T15:56:13.250+01:00").as_deref(),
            Some("30.01.2018 15:56")
        );
        assert_eq!(norwegian_date("2018-01-30Z").as_deref(), Some("30.01.2018"));
        assert_eq!(norwegian_date(" 2018-02 ").as_deref(), Some("02.2018"));
        for bad in [
            "",
            "1969",
            "7028",
            "x",
            "2018-13-01",
            "2018-01-32",
            "2018-01-30T25:00",
            "2018-01-30 junk",
            "30.01.2018",
            "2018-1-3",
            "２０１８-01-01",
            "2018-01-30T15:56:13+1",
        ] {
            assert_eq!(norwegian_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_in_free_text() {
        assert_eq!(
            date_in_text("Funksjonsvurdering gjort 22.01.18.").as_deref(),
            Some("22.01.18")
        );
        assert_eq!(
            date_in_text("Vurdert 2024-03-01 av sykepleier").as_deref(),
            Some("01.03.2024")
        );
        assert_eq!(date_in_text("Endringer i hygiene og hørsel"), None);
        assert_eq!(date_in_text("versjon 1.2.3"), None);
    }

    #[test]
    fn camel_case_names_become_words() {
        assert_eq!(
            split_camel("InformasjonOmForsendelsen"),
            "Informasjon om forsendelsen"
        );
        assert_eq!(split_camel("IPLOStjenestetype"), "IPLOStjenestetype");
        assert_eq!(split_camel("BehovForIPLOS"), "Behov for IPLOS");
        assert_eq!(split_camel("Ærlig_Øya"), "Ærlig øya");
        assert_eq!(split_camel(""), "");
    }

    #[test]
    fn free_text_keeps_its_lines() {
        let t = "\n\t\tFirst line\r\n\t\tsecond\n\n\n third \n";
        assert_eq!(
            paragraphs(t),
            vec![vec!["First line", "second"], vec!["third"]]
        );
        assert!(is_multiline(t));
        assert!(!is_multiline("  one  "));
        assert_eq!(
            text_block("a\nb").into_string(),
            "<p class=\"free-text\">a<br>b</p>"
        );
    }

    #[test]
    fn telecom_without_scheme() {
        assert_eq!(tele_address("tel:73555555"), "73555555");
        assert_eq!(tele_address("TEL: 735"), "735");
        assert_eq!(tele_address("73555555"), "73555555");
        assert_eq!(tele_address("tø"), "tø");
    }
}
