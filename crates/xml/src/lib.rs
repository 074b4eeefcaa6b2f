//! Hardened XML reading for Overgang.
//!
//! [`parse`] turns the bytes an EHR system sent into a compact, read-only tree
//! ([`Document`]) with namespace-resolved names and source positions. It is the
//! only place in Overgang that touches raw XML syntax, and it is where hostile
//! input stops:
//!
//! - any document type declaration (DTD) is refused, so no entity can be defined
//!   and nothing can expand;
//! - input over [`Limits::max_bytes`] is refused before it is read;
//! - nesting deeper than [`Limits::max_depth`] is refused while reading, so the
//!   tree never grows past the limit;
//! - bytes that are not legal in the declared encoding, characters XML forbids,
//!   an empty body and non-XML are refused with a line and column.
//!
//! The crate is pure: no IO, no clock, no global state. Errors carry element
//! names and positions, never text content, so they can be logged.

mod decode;
mod scan;
mod tree;

pub use decode::Encoding;
pub use tree::{Attribute, Children, Document, Facts, Node, NodeId};

/// Index of the empty namespace (no namespace) in [`Document::namespace`].
pub const NO_NAMESPACE: u32 = 0;

/// The XML Schema instance namespace (`xsi:`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The namespace bound to the `xml` prefix.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Bounds on what [`parse`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input, in bytes, before decoding.
    pub max_bytes: usize,
    /// Deepest element nesting; the root element is depth 1.
    pub max_depth: usize,
    /// Most attributes on one element (namespace declarations included).
    pub max_attributes: usize,
}

impl Limits {
    /// The default size limit: 35 MB, the largest message the national message
    /// infrastructure carries.
    pub const DEFAULT_MAX_BYTES: usize = 35 * 1024 * 1024;
    /// The default depth limit. PLO messages nest about 15 deep.
    pub const DEFAULT_MAX_DEPTH: usize = 100;
    /// The default attribute limit per element.
    pub const DEFAULT_MAX_ATTRIBUTES: usize = 256;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_attributes: Self::DEFAULT_MAX_ATTRIBUTES,
        }
    }
}

/// Why the input was refused, and where (1-based line and column, 0 when the
/// error concerns the whole input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (line {line}, column {column})")]
pub struct XmlError {
    pub kind: XmlErrorKind,
    pub line: u32,
    pub column: u32,
}

/// The kinds of [`XmlError`]. Their texts name elements and limits, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlErrorKind {
    #[error("the input is empty")]
    Empty,
    #[error("the input is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("elements are nested deeper than the limit of {limit}")]
    TooDeep { limit: usize },
    #[error("an element has more than {limit} attributes")]
    TooManyAttributes { limit: usize },
    #[error("a document type declaration (DTD) is not allowed")]
    Dtd,
    #[error("the encoding «{0}» is not supported (use UTF-8 or ISO-8859-1)")]
    UnsupportedEncoding(String),
    #[error("the bytes are not valid {0}")]
    InvalidEncoding(Encoding),
    #[error("character U+{0:04X} is not allowed in XML")]
    IllegalChar(u32),
    #[error("the input is not XML")]
    NotXml,
    #[error("the document has no root element")]
    NoRoot,
    #[error("there is content after the root element")]
    ContentAfterRoot,
    #[error("there is text before the root element")]
    TextBeforeRoot,
    #[error("end tag </{found}> does not match start tag <{expected}>")]
    MismatchedEndTag { expected: String, found: String },
    #[error("end tag </{0}> has no start tag")]
    UnmatchedEndTag(String),
    #[error("element <{0}> is not closed")]
    Unclosed(String),
    #[error("namespace prefix «{0}» is not declared")]
    UndeclaredPrefix(String),
    #[error("attribute «{0}» appears more than once")]
    DuplicateAttribute(String),
    #[error("«{0}» is not a valid XML name")]
    BadName(String),
    #[error("entity «&{0};» is not defined (only the five predefined entities are)")]
    UndefinedEntity(String),
    #[error("a character reference is not valid")]
    BadCharRef,
    #[error("malformed XML: {0}")]
    Syntax(&'static str),
}

/// Parses `input` into a [`Document`], refusing anything hostile or malformed.
pub fn parse(input: &[u8], limits: &Limits) -> Result<Document, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(whole(XmlErrorKind::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        }));
    }
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(whole(XmlErrorKind::Empty));
    }
    scan::build(decode::decode(input)?, limits)
}

fn whole(kind: XmlErrorKind) -> XmlError {
    XmlError {
        kind,
        line: 0,
        column: 0,
    }
}

/// Truncates a name or value taken from input to 40 characters before it goes
/// into an error or a finding, so neither ever carries a long run of message
/// text.
pub fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c as u32) >= 0xC0
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.' || (c as u32) == 0xB7
}

/// Whether `name` is a qualified name: an XML name with at most one colon,
/// which neither starts nor ends it, and whose local part starts like a name.
pub(crate) fn is_qname(name: &str) -> bool {
    let b = name.as_bytes();
    // Fast path: the ASCII names every real message uses.
    if b.is_ascii() {
        let start = |c: u8| c.is_ascii_alphabetic() || c == b'_';
        let rest = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
        return match memchr::memchr(b':', b) {
            None => b.first().is_some_and(|&c| start(c)) && b[1..].iter().all(|&c| rest(c)),
            Some(i) => {
                let (p, l) = (&b[..i], &b[i + 1..]);
                p.first().is_some_and(|&c| start(c))
                    && p[1..].iter().all(|&c| rest(c))
                    && l.first().is_some_and(|&c| start(c))
                    && l[1..].iter().all(|&c| rest(c))
            }
        };
    }
    is_xml_name(name)
        && name.matches(':').count() <= 1
        && !name.ends_with(':')
        && name
            .split(':')
            .next_back()
            .and_then(|l| l.chars().next())
            .is_some_and(|c| is_name_start(c) && c != ':')
}

/// Whether `name` is an XML name (approximately: non-ASCII letters are accepted).
pub fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if is_name_start(c) => chars.all(is_name_char),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
