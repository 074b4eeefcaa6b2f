//! Code lists (Volven, OID `2.16.578.1.12.4.1.1.<list>`) that the PLO
//! messages, MsgHead and AppRec use, carried as Overgang's own data.
//!
//! The data files live in `schemas/codelists/<list>.tsv` and are embedded
//! at compile time. Each file has one header line
//! `#<TAB><list><TAB><short name>`, then one line per code:
//! `<code><TAB><display>`, sorted (numeric codes by value first, then the rest
//! by text). The files are generated from the standards' code list extract by
//! `cargo run -p overgang-codelists --bin gen-codelists`; a test regenerates
//! them and compares.
//!
//! Pure: no IO, no clock, no global state (the built-in set is a value you
//! ask for with [`CodeLists::builtin`]).

use std::collections::BTreeMap;
use std::fmt;

/// The OID prefix of the Volven code lists; a list's OID is this plus `.<list>`.
pub const OID_PREFIX: &str = "2.16.578.1.12.4.1.1";

/// Errors while reading or generating code list data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeListError {
    #[error("code list data, line {line}: {what}")]
    Data { line: usize, what: String },
    #[error("code list source (CSV), line {line}: {what}")]
    Csv { line: usize, what: String },
    #[error("code list {0} is not in the source")]
    MissingList(u32),
}

macro_rules! lists {
    ($( $num:literal => $name:literal ),* $(,)?) => {
        /// The lists Overgang carries: list number and our short name.
        pub const LISTS: &[(u32, &str)] = &[ $( ($num, $name) ),* ];
        const DATA: &[(u32, &str)] = &[
            $( ($num, include_str!(concat!("../../../schemas/codelists/", stringify!($num), ".tsv"))) ),*
        ];
    };
}

lists! {
    1101 => "Yes/no",
    1103 => "Yes/no (variant)",
    3303 => "Languages",
    7309 => "Shipment status (Forsendelsesstatus)",
    7448 => "Pharmaceutical form",
    8112 => "Receiver role (AppRec)",
    8116 => "Identifier types for persons",
    8221 => "AppRec error codes (general)",
    8230 => "Status of an item (e.g. aid)",
    8254 => "Role of health personnel in relation to a document",
    8258 => "AppRec status",
    8268 => "Identifier types (general)",
    8279 => "Message types (MsgHead Type)",
    8329 => "Kind of document sent",
    8330 => "Receiver kind of a sent document",
    8408 => "Discharged to",
    8431 => "Condition at discharge (alive/dead)",
    8432 => "Kind of contact",
    8434 => "Place of event",
    8663 => "Municipal service areas",
    8724 => "Marital status",
    9033 => "Relation to patient (relatives)",
    9034 => "Role of health personnel to patient",
    9050 => "Care function (guardian and similar)",
    9051 => "Identifier types for organisations",
    9060 => "Health personnel categories",
    9064 => "Consent",
    9066 => "Kind of information given",
    9067 => "Urgency",
    9081 => "Time units (short)",
    9082 => "Weekdays",
    9083 => "Medication intake status",
    9088 => "Time units",
    9090 => "Units (medication strength)",
    9101 => "Kind of medicinal product",
    9103 => "Multidose status",
    9104 => "Prescription kind",
    9111 => "IPLOS functional variables",
    9113 => "Glasses",
    9114 => "Hearing aids",
    9121 => "Event codes (TidsfestetHendelse)",
    9131 => "Request kind (to GP)",
    9132 => "Help with medication",
    9135 => "Medication dispensing form",
    9136 => "Special measures (medication)",
    9137 => "Content kind: health information to GP",
    9138 => "Content kind: medical information from GP",
    9139 => "Content kind: discharge report",
    9140 => "Content kind: health information (application)",
    9141 => "Headings: nursing documentation",
    9142 => "Headings: journal text",
    9143 => "Headings: infection and critical information",
    9145 => "Headings: course",
    9151 => "IPLOS service types",
    9160 => "Blood group",
    9161 => "Rhesus group",
    9536 => "Nursing functional areas",
}

/// One code list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeList {
    /// The list number (last arc of the OID).
    pub number: u32,
    /// Our short name for the list (English).
    pub name: String,
    /// Code → display text (the official display value, Norwegian).
    codes: BTreeMap<String, String>,
    /// Codes in file order.
    order: Vec<String>,
}

impl CodeList {
    /// The list's OID, `2.16.578.1.12.4.1.1.<number>`.
    pub fn oid(&self) -> String {
        format!("{OID_PREFIX}.{}", self.number)
    }
    pub fn contains(&self, code: &str) -> bool {
        self.codes.contains_key(code)
    }
    pub fn display(&self, code: &str) -> Option<&str> {
        self.codes.get(code).map(String::as_str)
    }
    /// `(code, display)` in the data file's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.order
            .iter()
            .filter_map(|c| self.codes.get_key_value(c))
            .map(|(c, d)| (c.as_str(), d.as_str()))
    }
    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Reads one list from the data file format.
    pub fn parse(text: &str) -> Result<CodeList, CodeListError> {
        let mut lines = text.lines().enumerate();
        let (_, header) = lines.next().ok_or(CodeListError::Data {
            line: 1,
            what: "empty file".into(),
        })?;
        let mut h = header.split('\t');
        let (Some("#"), Some(num), Some(name)) = (h.next(), h.next(), h.next()) else {
            return Err(CodeListError::Data {
                line: 1,
                what: "header must be `#<TAB>list<TAB>name`".into(),
            });
        };
        let number: u32 = num.parse().map_err(|_| CodeListError::Data {
            line: 1,
            what: format!("bad list number {num:?}"),
        })?;
        let mut codes = BTreeMap::new();
        let mut order = Vec::new();
        for (i, line) in lines {
            if line.is_empty() {
                continue;
            }
            let (code, display) = line.split_once('\t').ok_or(CodeListError::Data {
                line: i + 1,
                what: "expected `code<TAB>display`".into(),
            })?;
            if codes.insert(code.to_owned(), display.to_owned()).is_none() {
                order.push(code.to_owned());
            }
        }
        Ok(CodeList {
            number,
            name: name.to_owned(),
            codes,
            order,
        })
    }
}

/// A set of code lists, by number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeLists {
    lists: BTreeMap<u32, CodeList>,
}

impl CodeLists {
    /// The lists embedded in this crate. Panics only if the embedded data is
    /// malformed, which the crate's tests rule out.
    pub fn builtin() -> CodeLists {
        let mut lists = BTreeMap::new();
        for (num, text) in DATA {
            match CodeList::parse(text) {
                Ok(l) => {
                    lists.insert(*num, l);
                }
                Err(e) => panic!("embedded code list {num} is malformed: {e}"),
            }
        }
        CodeLists { lists }
    }

    /// Builds a set from lists (e.g. read from configuration).
    pub fn from_lists(lists: impl IntoIterator<Item = CodeList>) -> CodeLists {
        CodeLists {
            lists: lists.into_iter().map(|l| (l.number, l)).collect(),
        }
    }

    pub fn get(&self, list: u32) -> Option<&CodeList> {
        self.lists.get(&list)
    }

    /// True when `list` is known and holds `code`.
    pub fn contains(&self, list: u32, code: &str) -> bool {
        self.get(list).is_some_and(|l| l.contains(code))
    }

    pub fn display(&self, list: u32, code: &str) -> Option<&str> {
        self.get(list).and_then(|l| l.display(code))
    }

    /// The list for an OID such as `2.16.578.1.12.4.1.1.9111`.
    pub fn by_oid(&self, oid: &str) -> Option<&CodeList> {
        list_number_of_oid(oid).and_then(|n| self.get(n))
    }

    pub fn iter(&self) -> impl Iterator<Item = &CodeList> + '_ {
        self.lists.values()
    }
}

/// The list number of a Volven OID (`2.16.578.1.12.4.1.1.<n>`).
pub fn list_number_of_oid(oid: &str) -> Option<u32> {
    oid.trim()
        .strip_prefix(OID_PREFIX)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

/// Orders codes: numeric codes by value first, then the rest by text.
pub fn code_order(a: &str, b: &str) -> std::cmp::Ordering {
    let num = |s: &str| -> Option<u128> {
        if !s.is_empty() && s.len() <= 30 && s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Parses the standards' code list extract (`list,code,display` with a header,
/// RFC 4180 quoting) into rows.
pub fn parse_source_csv(csv: &str) -> Result<Vec<(u32, String, String)>, CodeListError> {
    let mut rows = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut in_quotes = false;
    let mut line = 1usize;
    let mut record_line = 1usize;
    let mut chars = csv.chars().peekable();
    let mut finish = |record: &mut Vec<String>, rl: usize| -> Result<(), CodeListError> {
        let r = std::mem::take(record);
        if r.len() == 1 && r[0].is_empty() {
            return Ok(());
        }
        if r.len() != 3 {
            return Err(CodeListError::Csv {
                line: rl,
                what: format!("expected 3 fields, found {}", r.len()),
            });
        }
        if rl == 1 && r[0] == "list" {
            return Ok(());
        }
        let n: u32 = r[0].trim().parse().map_err(|_| CodeListError::Csv {
            line: rl,
            what: "list number is not a number".into(),
        })?;
        let mut it = r.into_iter().skip(1);
        let code = it.next().unwrap_or_default();
        let display = it.next().unwrap_or_default();
        rows.push((n, code, display));
        Ok(())
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(' ');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                finish(&mut record, record_line)?;
                line += 1;
                record_line = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(CodeListError::Csv {
            line: record_line,
            what: "unterminated quoted field".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        finish(&mut record, record_line)?;
    }
    Ok(rows)
}

/// Generates the data files for [`LISTS`] from the source extract: `(list, file text)`.
pub fn generate(csv: &str) -> Result<Vec<(u32, String)>, CodeListError> {
    let rows = parse_source_csv(csv)?;
    let mut out = Vec::new();
    for (num, name) in LISTS {
        let mut codes: Vec<(String, String)> = Vec::new();
        for (n, code, display) in &rows {
            if n != num {
                continue;
            }
            let code = clean(code);
            if code.is_empty() || codes.iter().any(|(c, _)| *c == code) {
                continue;
            }
            codes.push((code, clean(display)));
        }
        if codes.is_empty() {
            return Err(CodeListError::MissingList(*num));
        }
        codes.sort_by(|a, b| code_order(&a.0, &b.0));
        let mut text = format!("#\t{num}\t{name}\n");
        for (c, d) in codes {
            text.push_str(&c);
            text.push('\t');
            text.push_str(&d);
            text.push('\n');
        }
        out.push((*num, text));
    }
    Ok(out)
}

fn clean(s: &str) -> String {
    s.split(|c: char| c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for CodeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {} codes)", self.number, self.name, self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_header() {
        let rows = parse_source_csv(
            "list,code,display\n8258,3,\"OK, feil i delmelding\"\n1,\"a\"\"b\",x\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], (8258, "3".into(), "OK, feil i delmelding".into()));
        assert_eq!(rows[1].1, "a\"b");
    }

    #[test]
    fn orders_numbers_numerically() {
        let mut v = vec!["10", "AB", "2", "1"];
        v.sort_by(|a, b| code_order(a, b));
        assert_eq!(v, ["1", "2", "10", "AB"]);
    }

    #[test]
    fn oid_to_list() {
        assert_eq!(list_number_of_oid("2.16.578.1.12.4.1.1.9111"), Some(9111));
        assert_eq!(list_number_of_oid("2.16.578.1.12.4.1.19111"), None);
    }
}
