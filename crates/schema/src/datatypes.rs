//! The built-in XML Schema datatypes Overgang's profiles use, with the
//! lexical rules libxml2 applies (checked against `xmllint`; see the tests
//! and `docs/PROFILES.md` for the quirks we copy on purpose).

/// A built-in simple type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    AnySimpleType,
    String,
    NormalizedString,
    Token,
    Language,
    NmToken,
    Name,
    NcName,
    Id,
    IdRef,
    Boolean,
    Date,
    DateTime,
    Time,
    GYear,
    GYearMonth,
    Integer,
    NonNegativeInteger,
    PositiveInteger,
    Decimal,
    Double,
    Float,
    AnyUri,
    Base64Binary,
}

/// How a type treats whitespace before its lexical check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ws {
    Preserve,
    Replace,
    Collapse,
    /// libxml2 checks the date/time family on the raw value: surrounding
    /// whitespace makes it invalid (except inside a union, which collapses first).
    Raw,
}

impl Builtin {
    pub fn from_name(local: &str) -> Option<Builtin> {
        use Builtin::*;
        Some(match local {
            "anySimpleType" => AnySimpleType,
            "string" => String,
            "normalizedString" => NormalizedString,
            "token" => Token,
            "language" => Language,
            "NMTOKEN" => NmToken,
            "Name" => Name,
            "NCName" => NcName,
            "ID" => Id,
            "IDREF" => IdRef,
            "boolean" => Boolean,
            "date" => Date,
            "dateTime" => DateTime,
            "time" => Time,
            "gYear" => GYear,
            "gYearMonth" => GYearMonth,
            "integer" => Integer,
            "nonNegativeInteger" => NonNegativeInteger,
            "positiveInteger" => PositiveInteger,
            "decimal" => Decimal,
            "double" => Double,
            "float" => Float,
            "anyURI" => AnyUri,
            "base64Binary" => Base64Binary,
            _ => return None,
        })
    }

    pub fn whitespace(self) -> Ws {
        use Builtin::*;
        match self {
            String | AnySimpleType => Ws::Preserve,
            NormalizedString => Ws::Replace,
            Date | DateTime | Time | GYear | GYearMonth => Ws::Raw,
            _ => Ws::Collapse,
        }
    }

    /// True for free-text types whose values must never be quoted in findings.
    pub fn is_free_text(self) -> bool {
        matches!(
            self,
            Builtin::String | Builtin::NormalizedString | Builtin::AnySimpleType
        )
    }

    /// True when [`Builtin::check`] accepts every text: the schema walk
    /// skips values of such types that carry no enumeration or pattern.
    pub fn accepts_any_text(self) -> bool {
        use Builtin::*;
        matches!(self, AnySimpleType | String | NormalizedString | Token)
    }

    /// Checks the (already whitespace-processed) lexical form.
    pub fn check(self, v: &str) -> bool {
        use Builtin::*;
        match self {
            AnySimpleType | String | NormalizedString | Token => true,
            Language => !v.is_empty(),
            NmToken => !v.is_empty() && v.chars().all(is_name_char),
            Name => is_name(v, true),
            NcName | Id | IdRef => is_name(v, false),
            Boolean => matches!(v, "true" | "false" | "1" | "0"),
            Date => date(v),
            DateTime => date_time(v),
            Time => time_tz(v),
            GYear => g_year(v),
            GYearMonth => g_year_month(v),
            Integer => decimal(v, false),
            NonNegativeInteger => decimal(v, false) && !is_negative_nonzero(v),
            PositiveInteger => {
                decimal(v, false)
                    && !v.starts_with('-')
                    && v.bytes().any(|b| (b'1'..=b'9').contains(&b))
            }
            Decimal => decimal(v, true),
            Double | Float => double(v),
            AnyUri => any_uri(v),
            Base64Binary => base64(v),
        }
    }
}

fn is_negative_nonzero(v: &str) -> bool {
    v.starts_with('-') && v.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// XSD `collapse`: trim and squeeze runs of whitespace to one space.
pub fn collapse(v: &str) -> std::borrow::Cow<'_, str> {
    let ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    // Almost every value is already collapsed: one pass over the bytes
    // decides, and the common case borrows without trimming.
    let b = v.as_bytes();
    // Most have no byte at or below the space at all: a branch-free pass
    // the compiler vectorises settles those.
    if !b.iter().fold(false, |acc, &c| acc | (c <= b' ')) {
        return std::borrow::Cow::Borrowed(v);
    }
    let edge_ws = |x: Option<&u8>| x.is_some_and(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
    let mut needs = edge_ws(b.first()) || edge_ws(b.last());
    if !needs {
        let mut prev_space = false;
        for &c in b {
            match c {
                b'\t' | b'\n' | b'\r' => {
                    needs = true;
                    break;
                }
                b' ' if prev_space => {
                    needs = true;
                    break;
                }
                _ => prev_space = c == b' ',
            }
        }
    }
    if !needs {
        return std::borrow::Cow::Borrowed(v);
    }
    let t = v.trim_matches(ws);
    if !(t.contains(['\t', '\n', '\r']) || t.contains("  ")) {
        return std::borrow::Cow::Borrowed(t);
    }
    let mut out = std::string::String::with_capacity(t.len());
    let mut prev_ws = false;
    for c in t.chars() {
        if ws(c) {
            if !prev_ws {
                out.push(' ');
            }
            prev_ws = true;
        } else {
            out.push(c);
            prev_ws = false;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// XSD `replace`: tabs and line ends become spaces.
pub fn replace(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\t', '\n', '\r']) {
        std::borrow::Cow::Owned(v.replace(['\t', '\n', '\r'], " "))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

fn is_name_start(c: char, colon: bool) -> bool {
    c.is_alphabetic() || c == '_' || (colon && c == ':')
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.' | '\u{B7}')
}

fn is_name(v: &str, colon: bool) -> bool {
    let mut it = v.chars();
    match it.next() {
        Some(c) if is_name_start(c, colon) => it.all(|c| is_name_char(c) && (colon || c != ':')),
        _ => false,
    }
}

// --- numbers ---------------------------------------------------------------

/// integer / decimal as libxml2 reads them: optional sign, digits, and (for
/// decimal) an optional fraction; at most 24 digits once leading zeros of
/// the integer part are dropped.
fn decimal(v: &str, fraction: bool) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &b[int_start..i];
    let mut frac_digits: &[u8] = &[];
    if fraction && i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &b[fs..i];
    }
    if i != b.len() || (int_digits.is_empty() && frac_digits.is_empty()) {
        return false;
    }
    let significant_int = int_digits.iter().skip_while(|&&d| d == b'0').count();
    significant_int + frac_digits.len() <= 24
}

/// double / float as libxml2 reads them (it accepts a bare exponent marker,
/// e.g. `1e`, and refuses `+INF`).
fn double(v: &str) -> bool {
    if matches!(v, "INF" | "-INF" | "NaN") {
        return true;
    }
    let b = v.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    i == b.len()
}

// --- dates and times -------------------------------------------------------

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn two(&mut self) -> Option<u32> {
        let a = *self.b.get(self.i)?;
        let b = *self.b.get(self.i + 1)?;
        if a.is_ascii_digit() && b.is_ascii_digit() {
            self.i += 2;
            Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        } else {
            None
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    /// `-?YYYY+`, no leading zero beyond four digits, not year 0.
    fn year(&mut self) -> Option<i64> {
        let neg = self.eat(b'-');
        let start = self.i;
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.len() < 4 || (digits.len() > 4 && digits[0] == b'0') || digits.len() > 18 {
            return None;
        }
        let mut y: i64 = 0;
        for d in digits {
            y = y * 10 + i64::from(d - b'0');
        }
        if y == 0 {
            return None;
        }
        Some(if neg { -y } else { y })
    }
    fn month(&mut self) -> Option<u32> {
        self.two().filter(|m| (1..=12).contains(m))
    }
    /// `Z` or `±hh:mm` (at most 14:00), optional.
    fn tz(&mut self) -> bool {
        if self.done() {
            return true;
        }
        if self.eat(b'Z') {
            return self.done();
        }
        if !(self.eat(b'+') || self.eat(b'-')) {
            return false;
        }
        let (Some(h), true, Some(m)) = (self.two(), self.eat(b':'), self.two()) else {
            return false;
        };
        self.done() && m <= 59 && (h < 14 || (h == 14 && m == 0))
    }
    /// `hh:mm:ss(.s+)?`
    fn time(&mut self) -> bool {
        let (Some(h), true, Some(m), true, Some(s)) = (
            self.two(),
            self.eat(b':'),
            self.two(),
            self.eat(b':'),
            self.two(),
        ) else {
            return false;
        };
        let mut frac_nonzero = false;
        if self.eat(b'.') {
            let start = self.i;
            while self.b.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
                if self.b[self.i] != b'0' {
                    frac_nonzero = true;
                }
                self.i += 1;
            }
            if self.i == start {
                return false;
            }
        }
        if h == 24 {
            return m == 0 && s == 0 && !frac_nonzero;
        }
        h < 24 && m <= 59 && s <= 59
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn ymd(c: &mut Cur<'_>) -> bool {
    let Some(y) = c.year() else { return false };
    if !c.eat(b'-') {
        return false;
    }
    let Some(m) = c.month() else { return false };
    if !c.eat(b'-') {
        return false;
    }
    let Some(d) = c.two() else { return false };
    d >= 1 && d <= days_in(y, m)
}

fn date(v: &str) -> bool {
    let mut c = Cur {
        b: v.as_bytes(),
        i: 0,
    };
    ymd(&mut c) && c.tz()
}

fn date_time(v: &str) -> bool {
    let mut c = Cur {
        b: v.as_bytes(),
        i: 0,
    };
    ymd(&mut c) && c.eat(b'T') && c.time() && c.tz()
}

fn time_tz(v: &str) -> bool {
    let mut c = Cur {
        b: v.as_bytes(),
        i: 0,
    };
    c.time() && c.tz()
}

fn g_year(v: &str) -> bool {
    let mut c = Cur {
        b: v.as_bytes(),
        i: 0,
    };
    c.year().is_some() && c.tz()
}

fn g_year_month(v: &str) -> bool {
    let mut c = Cur {
        b: v.as_bytes(),
        i: 0,
    };
    c.year().is_some() && c.eat(b'-') && c.month().is_some() && c.tz()
}

// --- anyURI ----------------------------------------------------------------

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}
fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

struct Uri<'a> {
    b: &'a [u8],
    i: usize,
}

impl Uri<'_> {
    fn at(&self, k: usize) -> u8 {
        self.b.get(self.i + k).copied().unwrap_or(0)
    }
    fn pct(&self) -> bool {
        self.at(0) == b'%' && self.at(1).is_ascii_hexdigit() && self.at(2).is_ascii_hexdigit()
    }
    /// Consumes one pchar if present.
    fn pchar(&mut self) -> bool {
        let c = self.at(0);
        if self.pct() {
            self.i += 3;
            true
        } else if c != 0 && (is_unreserved(c) || is_sub_delim(c) || c == b':' || c == b'@') {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn segment(&mut self, no_colon: bool) {
        loop {
            if no_colon && self.at(0) == b':' {
                return;
            }
            if !self.pchar() {
                return;
            }
        }
    }
    fn path_abempty(&mut self) {
        while self.at(0) == b'/' {
            self.i += 1;
            self.segment(false);
        }
    }
    fn authority(&mut self) -> bool {
        // userinfo@
        let save = self.i;
        loop {
            let c = self.at(0);
            if self.pct() {
                self.i += 3;
            } else if c != 0 && (is_unreserved(c) || is_sub_delim(c) || c == b':') {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.at(0) == b'@' {
            self.i += 1;
        } else {
            self.i = save;
        }
        // host
        if self.at(0) == b'[' {
            while self.at(0) != b']' {
                if self.at(0) == 0 {
                    return false;
                }
                self.i += 1;
            }
            self.i += 1;
        } else {
            loop {
                let c = self.at(0);
                if self.pct() {
                    self.i += 3;
                } else if c != 0 && (is_unreserved(c) || is_sub_delim(c)) {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        if self.at(0) == b':' {
            self.i += 1;
            if !self.at(0).is_ascii_digit() {
                return false;
            }
            while self.at(0).is_ascii_digit() {
                self.i += 1;
            }
        }
        true
    }
    fn query_fragment(&mut self) -> bool {
        if self.at(0) == b'?' {
            self.i += 1;
            loop {
                let c = self.at(0);
                if c == b'/' || c == b'?' {
                    self.i += 1;
                } else if !self.pchar() {
                    break;
                }
            }
        }
        if self.at(0) == b'#' {
            self.i += 1;
            loop {
                let c = self.at(0);
                if matches!(c, b'/' | b'?' | b'[' | b']') {
                    self.i += 1;
                } else if !self.pchar() {
                    break;
                }
            }
        }
        self.i == self.b.len()
    }
    fn absolute(&mut self) -> bool {
        if !self.at(0).is_ascii_alphabetic() {
            return false;
        }
        while matches!(self.at(0), c if c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.')
        {
            self.i += 1;
        }
        if self.at(0) != b':' {
            return false;
        }
        self.i += 1;
        self.hier_part(false)
    }
    fn relative(&mut self) -> bool {
        self.hier_part(true)
    }
    /// `//authority path` | `/path` | `path`, then query and fragment. In a
    /// relative reference the first segment of a rootless path may not hold
    /// a colon (`no_colon`).
    fn hier_part(&mut self, no_colon: bool) -> bool {
        if self.at(0) == b'/' && self.at(1) == b'/' {
            self.i += 2;
            if !self.authority() {
                return false;
            }
        } else if self.at(0) == b'/' {
            self.i += 1;
            self.segment(false);
        } else {
            self.segment(no_colon);
        }
        self.path_abempty();
        self.query_fragment()
    }
}

/// anyURI as libxml2 checks it: characters it would escape become `_`, then
/// the value must parse as an RFC 3986 URI reference.
fn any_uri(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    let mapped: Vec<u8> = v
        .bytes()
        .map(|c| {
            if !(32..127).contains(&c)
                || matches!(
                    c,
                    b' ' | b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`' | b'\''
                )
            {
                b'_'
            } else {
                c
            }
        })
        .collect();
    if mapped.contains(&0) {
        return false;
    }
    let mut u = Uri { b: &mapped, i: 0 };
    if u.absolute() {
        return true;
    }
    let mut u = Uri { b: &mapped, i: 0 };
    u.relative()
}

// --- base64 ----------------------------------------------------------------

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// base64Binary: whitespace anywhere, groups of four, `=` padding only at
/// the end with the unused bits zero.
fn base64(v: &str) -> bool {
    let chars: Vec<u8> = v
        .bytes()
        .filter(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .collect();
    if !chars.len().is_multiple_of(4) {
        return false;
    }
    let pad = chars.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return false;
    }
    let body = &chars[..chars.len() - pad];
    if body.iter().any(|&c| b64_value(c).is_none()) {
        return false;
    }
    match (pad, body.last()) {
        (1, Some(&c)) => b64_value(c).is_some_and(|x| x & 0b11 == 0),
        (2, Some(&c)) => b64_value(c).is_some_and(|x| x & 0b1111 == 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Builtin::*;

    fn ok(t: Builtin, v: &str) -> bool {
        let v2 = match t.whitespace() {
            Ws::Collapse => collapse(v).into_owned(),
            _ => v.to_owned(),
        };
        t.check(&v2)
    }

    // Verdicts below were taken from xmllint (libxml2 2.9.14).
    #[test]
    fn dates_like_libxml2() {
        for v in [
            "-0001-01-01",
            "2020-02-29",
            "2020-01-02Z",
            "2020-01-02+14:00",
            "2020-01-02-13:59",
            "10000-01-01",
        ] {
            assert!(ok(Date, v), "{v}");
        }
        for v in [
            "",
            " 2020-01-02 ",
            "2020-01-02\n",
            "2020-1-02",
            "20-01-02",
            "02020-01-02",
            "0000-01-01",
            "2019-02-29",
            "2020-01-02+14:01",
            "2020-01-02+1:00",
            "2020-00-10",
            "2020-01-00",
            "1900-02-29",
        ] {
            assert!(!ok(Date, v), "{v}");
        }
        for v in [
            "2020-01-02T10:00:00.5",
            "2020-01-02T24:00:00",
            "2020-01-02T10:00:00Z",
            "2020-01-02T10:00:00+02:00",
        ] {
            assert!(ok(DateTime, v), "{v}");
        }
        for v in [
            "2020-01-02T10:00",
            "2020-01-02T10:00:00.",
            "2020-01-02T24:00:01",
            "2020-01-02T23:60:00",
            "2020-01-02T23:59:60",
            "2020-01-02t10:00:00",
            "2020-01-02 10:00:00",
        ] {
            assert!(!ok(DateTime, v), "{v}");
        }
        assert!(ok(Time, "24:00:00") && ok(Time, "10:00:00.123Z") && !ok(Time, "10:00"));
        assert!(
            ok(GYear, "-2020") && ok(GYear, "2020Z") && ok(GYear, "20201") && ok(GYear, "99999")
        );
        assert!(
            !ok(GYear, "0") && !ok(GYear, "0000") && !ok(GYear, "+2020") && !ok(GYear, " 2020 ")
        );
        assert!(ok(GYearMonth, "2020-01") && !ok(GYearMonth, "2020-13"));
    }

    #[test]
    fn numbers_like_libxml2() {
        for v in ["0", "-0", "+5", "007", " 12 ", "12\n"] {
            assert!(ok(Integer, v), "{v}");
        }
        for v in [
            "",
            "1.0",
            "1e2",
            " ",
            "1 2",
            "99999999999999999999999999999",
            "-",
            "+",
            "+-1",
        ] {
            assert!(!ok(Integer, v), "{v}");
        }
        assert!(ok(Integer, &"9".repeat(24)) && !ok(Integer, &"9".repeat(25)));
        assert!(ok(Integer, &format!("000{}", "9".repeat(24))));
        for v in ["1", "1.", ".5", "-.5", "+1.5", "00.50"] {
            assert!(ok(Decimal, v), "{v}");
        }
        for v in ["", ".", "1e2", "1,5", "1 5", "-"] {
            assert!(!ok(Decimal, v), "{v}");
        }
        assert!(!ok(Decimal, &format!("1.{}", "0".repeat(30))));
        for v in [
            "1", "1.", ".5", "1e", "1E5", "1e+5", "1e-5", "INF", "-INF", "NaN", "-0", "1e-", "+.5",
            "1.e5",
        ] {
            assert!(ok(Double, v), "{v}");
        }
        for v in [
            "", ".", "+INF", "nan", "inf", "1.5E3.2", "1d", ".e5", "e5", "1ee5", "-",
        ] {
            assert!(!ok(Double, v), "{v}");
        }
    }

    #[test]
    fn booleans_names_uris_base64() {
        for v in ["true", "false", "1", "0", " true "] {
            assert!(ok(Boolean, v), "{v}");
        }
        for v in ["", "TRUE", "True", "yes"] {
            assert!(!ok(Boolean, v), "{v}");
        }
        for v in [
            "",
            "a b",
            "#f",
            "tel:+47 123",
            "é",
            "a%20b",
            "http://[::1]/",
            "a|b",
            "\\",
            "{x}",
            "`",
            "%41",
            "http://x:80/p?q#f",
            "//x",
            "mailto:a@b",
            "a?b?c",
            "#",
            "?",
            "http://[x]/",
            "http://u@h:1/",
            "x:/a",
            "a@b",
            "a:b",
        ] {
            assert!(ok(AnyUri, v), "{v}");
        }
        for v in [
            "%zz",
            "[",
            "::",
            "http://a:b:c/",
            "1a:b",
            "a%2",
            "http://x:y/",
            "a#b#c",
            "a]",
            "http://a%zz/",
        ] {
            assert!(!ok(AnyUri, v), "{v}");
        }
        for v in [
            "",
            "QU JD",
            "QUJD QUJD",
            "QQ==",
            "QQ ==",
            "Q Q = =",
            "AB+/",
            "QUJD RA==",
            "Qg==",
        ] {
            assert!(ok(Base64Binary, v), "{v}");
        }
        for v in ["QUJ", "QUJD=", "====", "QQ=", "Q===", "QR==", "QUJDRA"] {
            assert!(!ok(Base64Binary, v), "{v}");
        }
        assert!(ok(Id, "_a") && ok(Id, "a-1") && ok(Id, "é") && ok(Id, " x1 "));
        assert!(!ok(Id, "") && !ok(Id, "1x") && !ok(Id, "x y") && !ok(Id, "a:b") && !ok(Id, "-a"));
        assert!(ok(NmToken, "a:b") && ok(NmToken, "-") && ok(NmToken, "1"));
        assert!(!ok(NmToken, "") && !ok(NmToken, "a b"));
    }

    /// A type that `accepts_any_text` must accept every value `check` sees.
    #[test]
    fn accepts_any_text_agrees_with_check() {
        use Builtin::*;
        let all = [
            AnySimpleType,
            String,
            NormalizedString,
            Token,
            Language,
            NmToken,
            Name,
            NcName,
            Id,
            IdRef,
            Boolean,
            Date,
            DateTime,
            Time,
            GYear,
            GYearMonth,
            Integer,
            NonNegativeInteger,
            PositiveInteger,
            Decimal,
            Double,
            Float,
            AnyUri,
            Base64Binary,
        ];
        for b in all {
            let any = ["", " ", "a b", "\u{e9}%<", "1", "x  y\t"]
                .iter()
                .all(|v| b.check(v));
            assert_eq!(b.accepts_any_text(), any, "{b:?}");
        }
    }

    /// The fast path of `collapse` must give what the definition says: the
    /// whitespace-separated words joined by single spaces.
    #[test]
    fn collapse_matches_its_definition() {
        let parts = ["", " ", "  ", "\t", "\n", "\r\n", "a", "bc", "æø", " x "];
        let mut inputs = vec![std::string::String::new()];
        for _ in 0..3 {
            let mut more = Vec::new();
            for s in &inputs {
                for p in parts {
                    more.push(format!("{s}{p}"));
                }
            }
            inputs = more;
        }
        for v in &inputs {
            let want: Vec<&str> = v
                .split([' ', '\t', '\n', '\r'])
                .filter(|w| !w.is_empty())
                .collect();
            assert_eq!(collapse(v), want.join(" "), "{v:?}");
        }
    }
}
