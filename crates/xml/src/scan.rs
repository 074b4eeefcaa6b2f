//! The single-pass scanner that reads the decoded source into a [`Document`].
//!
//! It replaces a tree builder driven by quick-xml's events, which spent most
//! of its time validating UTF-8 a second time, allocating per event and
//! walking attributes twice. The scanner works on the bytes of the already
//! checked `&str` (decode.rs validated the encoding and XML's character rules
//! once), jumps over text with `memchr`, and slices back into the source only
//! at ASCII delimiters, so every slice stays on a character boundary.
//!
//! Its behaviour is the one the event-driven builder had — the same documents
//! accepted, the same tree, the same error kinds at the same positions —
//! with one addition: `]]>` in text is refused, as XML requires. Where that
//! behaviour came from quick-xml's tokenizer rather than from XML (for example
//! how a malformed tag is split into attributes), the code says so. A tag
//! that the fast path does not recognise goes to a slow path that follows
//! quick-xml's rules to the letter; the fast path only accepts tags for which
//! both agree.
//!
//! Memory stays bounded on hostile input: the depth limit is checked before
//! an element is opened, the attribute limit while a tag is read, and the
//! scratch stacks never hold more than the open elements' text.

use crate::decode::Decoded;
use crate::tree::{AttributeData, Document, ElementData, Span, NONE};
use crate::{is_qname, is_xml_name, short, Limits, XmlError, XmlErrorKind, XML_NS};
use memchr::{memchr, memchr2, memchr3};

/// The namespace quick-xml (and the Namespaces recommendation) binds to the
/// `xmlns` prefix.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// quick-xml refused more than this many namespace bindings in scope at once
/// (its `DEFAULT_MAX_NAMESPACE_BINDINGS`); kept so the same documents pass,
/// and as a bound on the binding stack. libxml2 has no such limit, so a
/// document with more bindings in scope is a deliberate divergence from
/// `xmllint`: well-formed there, refused here.
const MAX_BINDINGS: usize = 128;
// The refusal's text names the number.
const _: () = assert!(MAX_BINDINGS == 128);

/// quick-xml counted nesting in a `u16` and refused the 65 536th level; kept
/// for the same reason (only reachable with a raised depth limit).
const MAX_NS_NESTING: usize = u16::MAX as usize;

/// Byte classes, one lookup per byte in the hot loops.
const WS: u8 = 1;
/// Bytes of a name in the fast path: ASCII letters and digits, `_-.:`, and
/// every byte of a non-ASCII character (whose rules `is_qname` checks).
const NAME: u8 = 2;
/// Bytes that end the fast scan of an attribute value: quotes, and what
/// needs a check or normalisation (`<`, `&`, tab, line feed, carriage return).
const VSTOP: u8 = 4;
/// Bytes that may start an ASCII name (letters and `_`).
const NSTART: u8 = 8;
const COLON: u8 = 16;
/// Bytes of non-ASCII characters.
const HIGH: u8 = 32;
/// `<` and `&`: the bytes that end a run of text.
const TSTOP: u8 = 128;
/// Not a byte class: marks a name read by the slow path, whose bytes were not
/// classified, so [`Scanner::qname_ok`] must check it in full.
const UNCHECKED: u8 = 64;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut k = 0;
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            k |= WS;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') || c >= 0x80 {
            k |= NAME;
        }
        if matches!(c, b'"' | b'\'' | b'<' | b'&' | b'\t' | b'\n' | b'\r') {
            k |= VSTOP;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            k |= NSTART;
        }
        if c == b':' {
            k |= COLON;
        }
        if c >= 0x80 {
            k |= HIGH;
        }
        if c == b'<' || c == b'&' {
            k |= TSTOP;
        }
        t[i] = k;
        i += 1;
    }
    t
}

const CLASS: [u8; 256] = classes();

fn is_ws(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

fn all_ws(b: &[u8]) -> bool {
    b.iter().all(|&c| is_ws(c))
}

/// The first offset from `j` whose byte has a class in `mask` (or the
/// end): sixteen bytes per bound check, as in [`scan_name`]. For the short
/// runs it reads (attribute values, element texts) this beats testing
/// blocks of eight bytes and then single bytes.
#[inline(never)]
fn find_stop(b: &[u8], j: usize, mask: u8) -> usize {
    let rest = b.get(j..).unwrap_or(&[]);
    let mut n = 0;
    while let Some(q) = rest.get(n..n + 16) {
        for (i, &c) in q.iter().enumerate() {
            if CLASS[c as usize] & mask != 0 {
                return j + n + i;
            }
        }
        n += 16;
    }
    let tail = &rest[n..];
    j + n
        + tail
            .iter()
            .position(|&c| CLASS[c as usize] & mask != 0)
            .unwrap_or(tail.len())
}

/// Whether two short byte strings (names) are equal, without a call to
/// memcmp.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Eight bytes of `b` from `j` as a little-endian word, if there are eight.
#[inline(always)]
fn word(b: &[u8], j: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(j..j + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGH1: u64 = 0x8080_8080_8080_8080;

/// The offset of the first byte from `j` that is not whitespace (or the
/// end). In the checked source a byte is whitespace exactly when it is at
/// most 0x20 — decode.rs refused every other control character — so eight
/// bytes are tested at once: the high bit of each byte above 0x20 (ASCII,
/// via an addition that cannot carry into the next byte, or non-ASCII) is
/// set. Indentation runs then take one step and one well-predicted branch.
#[inline(always)]
fn skip_ws(b: &[u8], mut j: usize) -> usize {
    while let Some(w) = word(b, j) {
        let above = (((w & LOW7) + 0x5F5F_5F5F_5F5F_5F5F) | w) & HIGH1;
        if above != 0 {
            return j + (above.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while j < b.len() && b[j] <= 0x20 {
        j += 1;
    }
    j
}

/// The offset of the first colon in `b[a..e]`, eight bytes per step (an
/// exact test for a zero byte of the word xor-ed with `:`; bytes past `e`
/// are masked off).
#[inline(always)]
fn colon_in(b: &[u8], mut a: usize, e: usize) -> Option<usize> {
    while a < e {
        let Some(w) = word(b, a) else {
            return b[a..e].iter().position(|&c| c == b':').map(|k| a + k);
        };
        let y = w ^ 0x3A3A_3A3A_3A3A_3A3A;
        let mut zero = !(((y & LOW7) + LOW7) | y | LOW7);
        if e - a < 8 {
            zero &= (1u64 << (8 * (e - a))) - 1;
        }
        if zero != 0 {
            return Some(a + (zero.trailing_zeros() / 8) as usize);
        }
        a += 8;
    }
    None
}

/// Whether `s` (a local name) has no colon: eight bytes per step.
#[inline(always)]
fn no_colon(s: &[u8]) -> bool {
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let y = u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) ^ 0x3A3A_3A3A_3A3A_3A3A;
        if !(((y & LOW7) + LOW7) | y | LOW7) != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|&c| c != b':')
}

/// Whether the `len` bytes at `a` and at `c` of `b` are equal, compared
/// eight at a time, the last word overlapping the one before (an end tag
/// against its start tag's name; `a..a + len` lies in `b`).
#[inline(always)]
fn same_at(b: &[u8], a: usize, c: usize, len: usize) -> bool {
    if len >= 8 {
        let mut k = 0;
        while k + 8 < len {
            if word(b, a + k) != word(b, c + k) {
                return false;
            }
            k += 8;
        }
        let last = len - 8;
        return matches!((word(b, a + last), word(b, c + last)), (Some(x), Some(y)) if x == y);
    }
    if len == 0 {
        return true;
    }
    match (word(b, a), word(b, c)) {
        (Some(x), Some(y)) => (x ^ y) & (u64::MAX >> (64 - 8 * len)) == 0,
        _ => match (b.get(a..a + len), b.get(c..c + len)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// An error at a byte offset; line and column are computed at the end.
struct Fault {
    offset: usize,
    kind: XmlErrorKind,
}

type Res<T> = Result<T, Fault>;

fn fault<T>(offset: usize, kind: XmlErrorKind) -> Res<T> {
    Err(Fault { offset, kind })
}

fn syntax<T>(offset: usize, what: &'static str) -> Res<T> {
    fault(offset, XmlErrorKind::Syntax(what))
}

/// Flags of an attribute value, gathered while it is scanned.
const V_LT: u8 = 1;
const V_AMP: u8 = 2;
/// Tab, line feed or carriage return: normalised to a space.
const V_WS: u8 = 4;

fn value_flag(c: u8) -> u8 {
    match c {
        b'<' => V_LT,
        b'&' => V_AMP,
        b'\t' | b'\n' | b'\r' => V_WS,
        _ => 0,
    }
}

/// One attribute of the tag being read, as byte ranges of the source.
#[derive(Clone, Copy)]
struct Token {
    key: (u32, u32),
    value: (u32, u32),
    /// `V_*` flags of the value.
    flags: u8,
    /// The byte classes of the key, or-ed (or [`UNCHECKED`]).
    key_class: u8,
}

/// Reads a name of the fast path from `j`: returns its end and the or of its
/// bytes' classes, from which [`Scanner::qname_ok`] decides most names
/// without looking at them again.
#[inline(never)]
fn scan_name(b: &[u8], j: usize) -> (usize, u8) {
    let rest = b.get(j..).unwrap_or(&[]);
    let mut acc = 0;
    let mut n = 0;
    // Sixteen bytes per round with one bound check (the rest of the
    // document nearly always holds them; a round ends where the name does).
    while let Some(q) = rest.get(n..n + 16) {
        for (i, &c) in q.iter().enumerate() {
            let k = CLASS[c as usize];
            if k & NAME == 0 {
                return (j + n + i, acc);
            }
            acc |= k;
        }
        n += 16;
    }
    for &c in &rest[n..] {
        let k = CLASS[c as usize];
        if k & NAME == 0 {
            break;
        }
        acc |= k;
        n += 1;
    }
    (j + n, acc)
}

/// A malformed attribute, as quick-xml's attribute iterator saw it.
enum BadAttr {
    /// Reported at the start of the tag.
    Malformed,
    /// An attribute that starts right after the previous value, without
    /// whitespace (`<a b="1"c="2"/>`); reported at its name (offset).
    NoSpace(usize),
}

/// A namespace binding in scope. The prefix and the value are byte ranges of
/// the source; an empty prefix is the default namespace, an empty value
/// unbinds.
struct Binding {
    prefix: (u32, u32),
    /// The prefix's bytes as a word ([`prefix_key`]).
    key: u64,
    value: (u32, u32),
    /// Index in the document's namespace table, interned on first use so the
    /// table lists namespaces in order of use, as before.
    ns: u32,
}

/// The key of a prefix that does not fit a word.
const LONG_PREFIX: u64 = u64::MAX;

/// A namespace prefix in `b[pa..pb]` as a word: its bytes, zero-padded,
/// when it has at most eight ([`LONG_PREFIX`] otherwise). Names hold no
/// zero byte and no 0xFF byte, so equal keys are equal prefixes (the empty
/// prefix of a default declaration has key 0).
#[inline(always)]
fn prefix_key(b: &[u8], pa: usize, pb: usize) -> u64 {
    if pb.saturating_sub(pa) > 8 {
        return LONG_PREFIX;
    }
    head_key(b, pa, pb)
}

/// The first eight bytes (or fewer) of the name in `b[a..e]` as a word,
/// zero-padded: names that differ there differ.
#[inline(always)]
fn head_key(b: &[u8], a: usize, e: usize) -> u64 {
    let len = e.saturating_sub(a).min(8);
    if len == 0 {
        return 0;
    }
    let pb = a + len;
    let pa = a;
    match word(b, pa) {
        Some(w) => w & (u64::MAX >> (64 - 8 * len)),
        None => b
            .get(pa..pb)
            .unwrap_or(&[])
            .iter()
            .rev()
            .fold(0, |k, &c| (k << 8) | u64::from(c)),
    }
}

/// An open element.
struct Open {
    id: u32,
    /// The qualified name, which the end tag must repeat.
    qname: (u32, u32),
    /// Length of the binding stack before this element's declarations.
    bindings: u32,
    /// Length of the piece stack and of the scratch text when it opened.
    pieces: u32,
    scratch: u32,
    any: bool,
    non_ws: bool,
}

/// A piece of an open element's character content: a range of the source
/// (text that needs no change) or of the scratch text (references, CDATA or
/// text with carriage returns, after normalisation).
#[derive(Clone, Copy)]
struct Piece {
    start: u32,
    end: u32,
    scratch: bool,
}

/// Reads `source` into a [`Document`].
pub(crate) fn build(decoded: Decoded, limits: &Limits) -> Result<Document, XmlError> {
    let Decoded {
        text: source,
        encoding,
    } = decoded;
    let result = {
        let mut s = Scanner::new(&source, limits);
        s.run().map(|()| s.finish())
    };
    match result {
        Ok((elements, attributes, namespaces, pool)) => Ok(Document {
            source,
            encoding,
            elements,
            attributes,
            namespaces,
            pool,
            line_marks: std::sync::OnceLock::new(),
        }),
        Err(Fault { offset, kind }) => {
            let doc = Document {
                source,
                encoding,
                elements: Vec::new(),
                attributes: Vec::new(),
                namespaces: Vec::new(),
                pool: String::new(),
                line_marks: std::sync::OnceLock::new(),
            };
            let (line, column) = doc.line_col(offset as u32);
            Err(XmlError { kind, line, column })
        }
    }
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    limits: &'a Limits,
    elements: Vec<ElementData>,
    attributes: Vec<AttributeData>,
    namespaces: Vec<String>,
    pool: String,
    open: Vec<Open>,
    bindings: Vec<Binding>,
    /// Changes whenever the binding stack does; the lookup caches below are
    /// valid while it has the value they recorded.
    ns_generation: u64,
    /// The default namespace found last: (generation, namespace index).
    default_cache: (u64, u32),
    /// The prefix resolved last: (generation, [`prefix_key`], namespace
    /// index). Messages use runs of one prefix (`epj3:` elements inside
    /// `epj3:` elements), so one entry saves most searches of the stack.
    prefix_cache: (u64, u64, u32),
    /// The attributes of the tag being read (fast path), reused.
    tokens: Vec<Token>,
    /// Whether a key in `tokens` starts with `xmlns`.
    tokens_xmlns: bool,
    /// Raw names of the attributes of the element being checked, reused.
    raw_keys: Vec<(u32, u32)>,
    pieces: Vec<Piece>,
    scratch: String,
    /// Whether the source has a carriage return at all; without one no text
    /// needs line-end normalisation and the text scan skips that check.
    has_cr: bool,
    /// Whether the source has `]]>` at all; without one no text run needs
    /// checking for it.
    has_cdata_end: bool,
    root_done: bool,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str, limits: &'a Limits) -> Self {
        let b = s.as_bytes();
        let has_cdata_end =
            memchr::memchr_iter(b']', b).any(|i| b.get(i + 1..i + 3) == Some(b"]>".as_slice()));
        Scanner {
            s,
            b,
            limits,
            // Messages have an element per 40–80 bytes and an attribute per
            // 60–120: sized so that a message rarely grows either vector.
            elements: Vec::with_capacity(b.len() / 40 + 8),
            attributes: Vec::with_capacity(b.len() / 60 + 8),
            namespaces: vec![String::new()],
            pool: String::new(),
            open: Vec::with_capacity(32),
            bindings: Vec::with_capacity(16),
            ns_generation: 0,
            default_cache: (u64::MAX, 0),
            prefix_cache: (u64::MAX, LONG_PREFIX, 0),
            tokens: Vec::with_capacity(16),
            tokens_xmlns: false,
            raw_keys: Vec::with_capacity(16),
            pieces: Vec::with_capacity(64),
            scratch: String::new(),
            has_cr: memchr(b'\r', b).is_some(),
            has_cdata_end,
            root_done: false,
        }
    }

    #[allow(clippy::type_complexity)]
    fn finish(self) -> (Vec<ElementData>, Vec<AttributeData>, Vec<String>, String) {
        (self.elements, self.attributes, self.namespaces, self.pool)
    }

    /// The source text in `a..b`; empty when the range is not valid (it
    /// always is: ranges end at ASCII delimiters).
    fn str(&self, a: usize, b: usize) -> &'a str {
        self.s.get(a..b).unwrap_or("")
    }

    fn run(&mut self) -> Res<()> {
        let b = self.b;
        let n = b.len();
        let mut i = 0;
        while i < n {
            // Character data runs up to the next markup or reference. Most
            // runs are indentation, known to be whitespace once it ends at
            // `<`; the rest are short values, searched inline first.
            let mut next = skip_ws(b, i);
            let ws = next == n || CLASS[b[next] as usize] & TSTOP != 0;
            if !ws {
                let limit = (next + 32).min(n);
                next = find_stop(&b[..limit], next, TSTOP);
                if next == limit && limit < n {
                    next = memchr2(b'<', b'&', &b[limit..]).map_or(n, |k| limit + k);
                }
            }
            if next > i {
                self.text(i, next, ws)?;
            }
            if next == n {
                break;
            }
            i = if b[next] == b'<' {
                self.markup(next)?
            } else {
                self.reference(next)?
            };
        }
        if let Some(open) = self.open.last() {
            let name = self.elements[open.id as usize].name;
            let name = self.str(name.0 as usize, name.1 as usize);
            return fault(n, XmlErrorKind::Unclosed(short(name)));
        }
        if !self.root_done {
            return fault(n, XmlErrorKind::NoRoot);
        }
        Ok(())
    }

    // ---- character data ----------------------------------------------

    /// A run of text in `a..b` (no `<`, no `&`); `ws` if it is all whitespace.
    fn text(&mut self, a: usize, b: usize, ws: bool) -> Res<()> {
        let run = &self.b[a..b];
        if self.open.is_empty() {
            return self.outside_root(a, ws);
        }
        if self.has_cdata_end {
            for k in memchr::memchr_iter(b']', run) {
                if run.get(k + 1..k + 3) == Some(b"]>".as_slice()) {
                    return syntax(a + k, "«]]>» is not allowed in text");
                }
            }
        }
        if self.has_cr && memchr(b'\r', run).is_some() {
            let text = self.str(a, b);
            self.push_normalised(text);
        } else {
            self.pieces.push(Piece {
                start: a as u32,
                end: b as u32,
                scratch: false,
            });
        }
        self.mark_text(ws);
        Ok(())
    }

    /// Character content outside the root element: only whitespace may stand
    /// there.
    fn outside_root(&self, at: usize, ws: bool) -> Res<()> {
        if ws {
            Ok(())
        } else {
            fault(at, self.outside_root_kind())
        }
    }

    /// The error for content outside the root element: before or after it.
    fn outside_root_kind(&self) -> XmlErrorKind {
        if self.root_done {
            XmlErrorKind::ContentAfterRoot
        } else {
            XmlErrorKind::TextBeforeRoot
        }
    }

    fn mark_text(&mut self, ws: bool) {
        if let Some(top) = self.open.last_mut() {
            top.any = true;
            top.non_ws |= !ws;
        }
    }

    /// Appends `text` with its line ends normalised (CR LF and lone CR
    /// become LF) to the scratch text, as one piece.
    fn push_normalised(&mut self, text: &str) {
        let start = self.scratch.len();
        let mut rest = text;
        while let Some(k) = memchr(b'\r', rest.as_bytes()) {
            self.scratch.push_str(&rest[..k]);
            self.scratch.push('\n');
            let skip = if rest.as_bytes().get(k + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            rest = &rest[k + skip..];
        }
        self.scratch.push_str(rest);
        self.pieces.push(Piece {
            start: start as u32,
            end: self.scratch.len() as u32,
            scratch: true,
        });
    }

    /// An entity or character reference in text, at `i` (`&`). Returns the
    /// offset after it.
    fn reference(&mut self, i: usize) -> Res<usize> {
        let b = self.b;
        let end = match memchr3(b';', b'&', b'<', &b[i + 1..]) {
            Some(k) if b[i + 1 + k] == b';' => i + 1 + k,
            _ => return syntax(i, "a reference has no closing «;»"),
        };
        let name = self.str(i + 1, end);
        let ch = if let Some(num) = name.strip_prefix('#') {
            let Some(c) = char_ref(num) else {
                return fault(i, XmlErrorKind::BadCharRef);
            };
            if !crate::tree::is_xml_char(c) {
                return fault(i, XmlErrorKind::IllegalChar(c as u32));
            }
            c
        } else {
            match predefined(name) {
                Some(c) => c,
                None => return fault(i, XmlErrorKind::UndefinedEntity(short(name))),
            }
        };
        if self.open.is_empty() {
            // Only whitespace itself may stand outside the root element: a
            // reference is content even when it stands for a space.
            return fault(i, self.outside_root_kind());
        } else {
            let ws = matches!(ch, ' ' | '\t' | '\n' | '\r');
            let start = self.scratch.len();
            self.scratch.push(ch);
            self.pieces.push(Piece {
                start: start as u32,
                end: self.scratch.len() as u32,
                scratch: true,
            });
            self.mark_text(ws);
        }
        Ok(end + 1)
    }

    // ---- markup ------------------------------------------------------

    /// Markup at `i` (`<`). Returns the offset after it.
    fn markup(&mut self, i: usize) -> Res<usize> {
        match self.b.get(i + 1) {
            None => syntax(i, "a tag is not closed"),
            Some(b'/') => self.end_tag(i),
            Some(b'!') => self.bang(i),
            Some(b'?') => self.pi(i),
            Some(_) => self.start_tag(i),
        }
    }

    /// `<!`: comment, CDATA section or document type declaration.
    fn bang(&mut self, i: usize) -> Res<usize> {
        let b = self.b;
        match b.get(i + 2) {
            Some(b'-') => {
                // The comment ends at the first `-->` that does not overlap
                // `<!--`; `--` before it is not allowed.
                let Some(close) = find_close(b, i + 6, b"--") else {
                    return syntax(i, "a comment is not closed");
                };
                if !b[i..].starts_with(b"<!--") {
                    return syntax(i, "a comment is not closed");
                }
                let body = &b[i + 4..close - 2];
                for k in memchr::memchr_iter(b'-', body) {
                    if b[i + 4 + k + 1] == b'-' {
                        return syntax(i + 4 + k, "«--» inside a comment");
                    }
                }
                Ok(close + 1)
            }
            Some(b'[') => {
                if !b[i..].starts_with(b"<![CDATA[") {
                    return syntax(i, "a CDATA section is not closed");
                }
                let Some(close) = find_close(b, i + 11, b"]]") else {
                    return syntax(i, "a CDATA section is not closed");
                };
                if self.open.is_empty() {
                    return fault(i, self.outside_root_kind());
                }
                let (a, e) = (i + 9, close - 2);
                if e > a {
                    let ws = all_ws(&b[a..e]);
                    if self.has_cr && memchr(b'\r', &b[a..e]).is_some() {
                        let text = self.str(a, e);
                        self.push_normalised(text);
                    } else {
                        self.pieces.push(Piece {
                            start: a as u32,
                            end: e as u32,
                            scratch: false,
                        });
                    }
                    self.mark_text(ws);
                }
                // An empty CDATA section still counts as character content
                // (libxml2 refuses it in empty-content types), and libxml2
                // refuses any CDATA in element-only content.
                if let Some(top) = self.open.last_mut() {
                    top.any = true;
                    self.elements[top.id as usize].cdata = true;
                }
                Ok(close + 1)
            }
            Some(b'D' | b'd') => {
                // Refused whatever follows. quick-xml put the error of a
                // `<!DOCTYPE>` without a name at its `>`; kept.
                let rest = &b[i..];
                if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case(b"<!DOCTYPE") {
                    if let Some(k) = memchr(b'>', &rest[9..]) {
                        if all_ws(&rest[9..9 + k]) {
                            return fault(i + 9 + k, XmlErrorKind::Dtd);
                        }
                    }
                }
                fault(i, XmlErrorKind::Dtd)
            }
            _ => syntax(i, "unknown markup after «<!»"),
        }
    }

    /// `<?`: a processing instruction, or the XML declaration (only at the
    /// very start). The declaration is checked by its grammar (see
    /// [`check_xml_decl`]); a processing instruction's target must be a name
    /// other than `xml` in any case, followed by whitespace or `?>`. Its
    /// content is not checked further. (A colon in the target is accepted:
    /// libxml2 reports it as a namespace error but still accepts the
    /// document.) Kept out of line: one declaration per message is all the
    /// happy path brings here.
    fn pi(&mut self, i: usize) -> Res<usize> {
        let b = self.b;
        let Some(close) = find_close(b, i + 2, b"?") else {
            let rest = &b[i..];
            let decl =
                rest.starts_with(b"<?xml") && rest.get(5).is_none_or(|&c| is_ws(c) || c == b'?');
            return syntax(
                i,
                if decl {
                    "the XML declaration is not closed"
                } else {
                    "a processing instruction is not closed"
                },
            );
        };
        if close == i + 2 {
            // `<?>`
            return syntax(i, "a processing instruction is not closed");
        }
        let content = &b[i + 2..close - 1];
        let is_decl = content.starts_with(b"xml") && content.get(3).is_none_or(|&c| is_ws(c));
        if is_decl {
            if i != 0 {
                return syntax(i, "an XML declaration may only stand at the start");
            }
            // The declaration nearly every message has, accepted without
            // walking the grammar.
            const COMMON: &[u8] = b"xml version=\"1.0\" encoding=\"UTF-8\"";
            if content != COMMON {
                check_xml_decl(b, close)?;
            }
        } else {
            let target_len = content
                .iter()
                .position(|&c| is_ws(c))
                .unwrap_or(content.len());
            if content[..target_len].eq_ignore_ascii_case(b"xml") {
                return syntax(i, "an XML declaration may only stand at the start");
            }
            if target_len == 0 {
                return syntax(i + 2, "a processing instruction has no target");
            }
            // The target ends at ASCII whitespace or at the `?` of `?>`.
            let target = self.str(i + 2, i + 2 + target_len);
            if !is_xml_name(target) {
                return fault(i + 2, XmlErrorKind::BadName(short(target)));
            }
        }
        Ok(close + 1)
    }

    /// An end tag at `i`. Returns the offset after it.
    fn end_tag(&mut self, i: usize) -> Res<usize> {
        let b = self.b;
        if let Some(top) = self.open.last() {
            let (qa, qb) = (top.qname.0 as usize, top.qname.1 as usize);
            let len = qb - qa;
            if same_at(b, qa, i + 2, len) {
                let mut j = i + 2 + len;
                if b.get(j) != Some(&b'>') {
                    j = skip_ws(b, j);
                }
                if b.get(j) == Some(&b'>') {
                    self.close_top();
                    return Ok(j + 1);
                }
            }
        }
        // Anything else, as quick-xml read it: the tag ends at the first `>`
        // outside quotes, and trailing whitespace is not part of the name
        // (unless the name is all whitespace).
        let close = tag_end(b, i)?;
        let mut e = close;
        while e > i + 2 && is_ws(b[e - 1]) {
            e -= 1;
        }
        if e == i + 2 {
            e = close;
        }
        let found = self.str(i + 2, e);
        let Some(top) = self.open.last() else {
            return fault(i, XmlErrorKind::UnmatchedEndTag(short(found)));
        };
        let expected = self.str(top.qname.0 as usize, top.qname.1 as usize);
        if found != expected {
            return fault(
                i,
                XmlErrorKind::MismatchedEndTag {
                    expected: short(expected),
                    found: short(found),
                },
            );
        }
        self.close_top();
        Ok(close + 1)
    }

    /// A start or empty-element tag at `i`. Returns the offset after it.
    fn start_tag(&mut self, i: usize) -> Res<usize> {
        match self.scan_tag(i) {
            Some((name_end, name_class, end, empty)) => {
                let mark = self.bindings.len();
                self.declare_tokens(i)?;
                let tokens = std::mem::take(&mut self.tokens);
                let r = self.open_element(
                    i,
                    (i + 1, name_end, name_class),
                    tokens.iter().map(|t| Ok(*t)),
                    empty,
                    mark,
                );
                self.tokens = tokens;
                r?;
                Ok(end)
            }
            None => self.start_tag_slow(i),
        }
    }

    /// The fast path: reads a tag of the plain form
    /// `<name (ws* key ws* = ws* "value")* ws* /?>` into `self.tokens` and
    /// returns (end of name, offset after the tag, empty?). `None` for any
    /// other form, for an unclosed tag, and for more attributes than the
    /// limit allows; the slow path then reads it exactly as quick-xml did.
    /// (Attributes must be separated by whitespace, as XML and libxml2
    /// require; quick-xml did not, and a tag without it goes to the slow
    /// path, which refuses it.)
    fn scan_tag(&mut self, i: usize) -> Option<(usize, u8, usize, bool)> {
        let b = self.b;
        let n = b.len();
        self.tokens.clear();
        self.tokens_xmlns = false;
        let (mut j, name_class) = scan_name(b, i + 1);
        if j == i + 1 {
            return None;
        }
        let name_end = j;
        loop {
            while j < n && is_ws(b[j]) {
                j += 1;
            }
            let c = *b.get(j)?;
            if c == b'>' {
                return Some((name_end, name_class, j + 1, false));
            }
            if c == b'/' {
                return (b.get(j + 1) == Some(&b'>')).then_some((
                    name_end,
                    name_class,
                    j + 2,
                    true,
                ));
            }
            if CLASS[c as usize] & NAME == 0 {
                return None;
            }
            let key_start = j;
            let (end, key_class) = scan_name(b, j);
            j = end;
            let key_end = j;
            self.tokens_xmlns |= b[key_start..key_end].starts_with(b"xmlns");
            while j < n && is_ws(b[j]) {
                j += 1;
            }
            if b.get(j) != Some(&b'=') {
                return None;
            }
            j += 1;
            while j < n && is_ws(b[j]) {
                j += 1;
            }
            let q = *b.get(j)?;
            if q != b'"' && q != b'\'' {
                return None;
            }
            j += 1;
            let value_start = j;
            let mut flags = 0;
            loop {
                j = find_stop(b, j, VSTOP);
                let c = *b.get(j)?;
                if c == q {
                    break;
                }
                flags |= value_flag(c);
                j += 1;
            }
            if self.tokens.len() >= self.limits.max_attributes {
                return None;
            }
            self.tokens.push(Token {
                key: (key_start as u32, key_end as u32),
                value: (value_start as u32, j as u32),
                flags,
                key_class,
            });
            j += 1;
            // A key straight after the value: the slow path reports it.
            if b.get(j).is_some_and(|&c| CLASS[c as usize] & NAME != 0) {
                return None;
            }
        }
    }

    /// The slow path for a start tag, following quick-xml: the tag ends at
    /// the first `>` outside quotes; it is empty when `/` precedes that; the
    /// name runs to the first whitespace; the rest is read by quick-xml's
    /// attribute rules (see [`AttrIter`]).
    fn start_tag_slow(&mut self, i: usize) -> Res<usize> {
        let b = self.b;
        let close = tag_end(b, i)?;
        let mut content_end = close;
        let empty = close > i + 1 && b[close - 1] == b'/';
        if empty {
            content_end -= 1;
        }
        let name_end = (i + 1..content_end)
            .find(|&k| is_ws(b[k]))
            .unwrap_or(content_end);
        let attrs = || AttrIter {
            b,
            pos: name_end,
            end: content_end,
            done: false,
            after_value: false,
        };
        let mark = self.bindings.len();
        self.declare(i, attrs())?;
        self.open_element(
            i,
            (i + 1, name_end, UNCHECKED | COLON),
            attrs(),
            empty,
            mark,
        )?;
        Ok(close + 1)
    }

    // ---- namespaces --------------------------------------------------

    fn declare_tokens(&mut self, at: usize) -> Res<()> {
        if self.open.len() >= MAX_NS_NESTING {
            return syntax(at, "a namespace declaration is not valid");
        }
        if !self.tokens_xmlns {
            return Ok(());
        }
        for k in 0..self.tokens.len() {
            let t = self.tokens[k];
            self.bind(at, t)?;
        }
        Ok(())
    }

    /// Adds the element's namespace declarations to the scope. As in
    /// quick-xml, declarations after a malformed attribute are not read (the
    /// malformed attribute is reported later, in attribute order).
    fn declare(
        &mut self,
        at: usize,
        attrs: impl Iterator<Item = Result<Token, BadAttr>>,
    ) -> Res<()> {
        if self.open.len() >= MAX_NS_NESTING {
            return syntax(at, "a namespace declaration is not valid");
        }
        for t in attrs {
            let Ok(t) = t else { break };
            self.bind(at, t)?;
        }
        Ok(())
    }

    /// Binds a prefix if `t` is a namespace declaration, by quick-xml's
    /// rules: `xml` only to its namespace and not added, `xmlns` never, no
    /// other prefix to those two namespaces, the value taken raw (references
    /// are not resolved, though the value gets the checks of any attribute
    /// value), an empty value unbinding, and `xmlns:` with an empty prefix
    /// acting as a default declaration. (libxml2 reports `xmlns:="u"` as a
    /// namespace error but `xmllint` still exits 0, so accepting it keeps
    /// the verdicts equal.)
    fn bind(&mut self, at: usize, t: Token) -> Res<()> {
        let b = self.b;
        let (ka, kb) = (t.key.0 as usize, t.key.1 as usize);
        let key = &b[ka..kb];
        if !key.starts_with(b"xmlns") {
            return Ok(());
        }
        let value = &b[t.value.0 as usize..t.value.1 as usize];
        let prefix = match key.get(5) {
            None => None,
            Some(b':') => Some((ka + 6, kb)),
            Some(_) => return Ok(()),
        };
        if t.flags & (V_LT | V_AMP) != 0 {
            self.check_ns_value(at, t)?;
        }
        let bad = || syntax(at, "a namespace declaration is not valid");
        if let Some((pa, pb)) = prefix {
            match &b[pa..pb] {
                b"xml" => {
                    return if value == XML_NS.as_bytes() {
                        Ok(())
                    } else {
                        bad()
                    }
                }
                b"xmlns" => return bad(),
                _ => {
                    if value == XML_NS.as_bytes() || value == XMLNS_NS.as_bytes() {
                        return bad();
                    }
                }
            }
        }
        if self.bindings.len() >= MAX_BINDINGS {
            // Say which limit it is: "not valid" sent a sender looking for
            // a typo in a declaration that is fine.
            return syntax(at, "more than 128 namespace declarations are in scope");
        }
        let (pa, pb) = prefix.unwrap_or((ka, ka));
        self.ns_generation = self.ns_generation.wrapping_add(1);
        self.bindings.push(Binding {
            prefix: (pa as u32, pb as u32),
            key: prefix_key(b, pa, pb),
            value: t.value,
            ns: NONE,
        });
        Ok(())
    }

    /// A namespace declaration's value with `<` or a reference gets the
    /// checks of any attribute value: no `<`, only the five predefined
    /// entities, character references to characters XML allows. The binding
    /// itself still uses the raw value (references are not resolved in
    /// namespace names, as in quick-xml). Only unusual input comes here.
    #[cold]
    #[inline(never)]
    fn check_ns_value(&mut self, at: usize, t: Token) -> Res<()> {
        if t.flags & V_LT != 0 {
            return syntax(at, "«<» is not allowed in an attribute value");
        }
        let mark = self.pool.len();
        let checked = self.normalise_value(at, t.value.0 as usize, t.value.1 as usize);
        self.pool.truncate(mark);
        checked.map(|_| ())
    }

    /// Drops the bindings past `len` (the scope of a closed element).
    #[inline]
    fn pop_bindings(&mut self, len: usize) {
        if self.bindings.len() != len {
            self.bindings.truncate(len);
            self.ns_generation = self.ns_generation.wrapping_add(1);
        }
    }

    /// The namespace index of an element name: of its prefix, or of the
    /// nearest default declaration. `Err` for an undeclared prefix.
    #[inline]
    fn element_ns(&mut self, prefix: Option<(usize, usize)>) -> Result<u32, ()> {
        match prefix {
            Some((pa, pb)) => self.prefix_ns(pa, pb),
            None => {
                if self.default_cache.0 == self.ns_generation {
                    return Ok(self.default_cache.1);
                }
                let ns = match self.bindings.iter().rposition(|d| d.prefix.0 == d.prefix.1) {
                    Some(k) => self.binding_ns(k),
                    None => 0,
                };
                self.default_cache = (self.ns_generation, ns);
                Ok(ns)
            }
        }
    }

    /// The namespace index bound to the prefix in `pa..pb`: the innermost
    /// declaration (an empty value unbinds it), else the built-in `xml` and
    /// `xmlns` prefixes. `Err` for an undeclared prefix.
    #[inline]
    fn prefix_ns(&mut self, pa: usize, pb: usize) -> Result<u32, ()> {
        let key = prefix_key(self.b, pa, pb);
        let (generation, ckey, ns) = self.prefix_cache;
        if generation == self.ns_generation && ckey == key && key != LONG_PREFIX {
            return Ok(ns);
        }
        let ns = if key != LONG_PREFIX && pb > pa {
            // Prefixes of up to eight bytes compare as one word each.
            match self.bindings.iter().rposition(|d| d.key == key) {
                Some(k) if self.bindings[k].value.0 != self.bindings[k].value.1 => {
                    self.binding_ns(k)
                }
                Some(_) => return Err(()),
                None => self.prefix_ns_search(pa, pb)?,
            }
        } else {
            self.prefix_ns_search(pa, pb)?
        };
        self.prefix_cache = (self.ns_generation, key, ns);
        Ok(ns)
    }

    fn prefix_ns_search(&mut self, pa: usize, pb: usize) -> Result<u32, ()> {
        let b = self.b;
        let p = &b[pa..pb];
        let found = self.bindings.iter().rposition(|d| {
            d.prefix.0 != d.prefix.1 && same(&b[d.prefix.0 as usize..d.prefix.1 as usize], p)
        });
        match found {
            Some(k) if self.bindings[k].value.0 != self.bindings[k].value.1 => {
                Ok(self.binding_ns(k))
            }
            Some(_) => Err(()),
            None => match p {
                b"xml" => Ok(self.intern(XML_NS)),
                b"xmlns" => Ok(self.intern(XMLNS_NS)),
                _ => Err(()),
            },
        }
    }

    /// The namespace index of binding `k`, interned on first use.
    #[inline]
    fn binding_ns(&mut self, k: usize) -> u32 {
        let d = &self.bindings[k];
        if d.ns != NONE {
            return d.ns;
        }
        let uri = self.str(d.value.0 as usize, d.value.1 as usize);
        let ns = self.intern(uri);
        self.bindings[k].ns = ns;
        ns
    }

    /// Whether the name in `a..e`, whose bytes' classes or-ed are `class`,
    /// is a qualified name (`colon` is its first colon). Names of ASCII
    /// letters, digits and `_-.:` are decided from the first byte and the
    /// colon; others go to [`is_qname`].
    #[inline(always)]
    fn qname_ok(&self, a: usize, e: usize, class: u8, colon: Option<usize>) -> bool {
        if class & (HIGH | UNCHECKED) != 0 {
            return is_qname(self.str(a, e));
        }
        let b = self.b;
        let starts = |k: usize| CLASS[b[k] as usize] & NSTART != 0;
        a < e
            && starts(a)
            && colon
                .is_none_or(|c| c + 1 < e && starts(c + 1) && b.get(c + 1..e).is_some_and(no_colon))
    }

    fn intern(&mut self, uri: &str) -> u32 {
        if uri.is_empty() {
            return 0;
        }
        // A document uses a handful of namespaces: a linear scan is fastest.
        if let Some(k) = self.namespaces.iter().position(|n| n == uri) {
            return k as u32;
        }
        self.namespaces.push(uri.to_owned());
        (self.namespaces.len() - 1) as u32
    }

    // ---- elements and attributes -------------------------------------

    /// Checks and adds the element whose tag starts at `at` and whose
    /// qualified name is `na..nb`, with its attributes, in the order the
    /// event-driven builder checked them. `bindings_before` is the length of
    /// the binding stack before the tag's own declarations.
    fn open_element(
        &mut self,
        at: usize,
        (na, nb, name_class): (usize, usize, u8),
        attrs: impl Iterator<Item = Result<Token, BadAttr>>,
        empty: bool,
        bindings_before: usize,
    ) -> Res<()> {
        let b = self.b;
        if self.root_done {
            return fault(at, XmlErrorKind::ContentAfterRoot);
        }
        if self.open.len() >= self.limits.max_depth {
            return fault(
                at,
                XmlErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
            );
        }
        let colon = if name_class & COLON != 0 {
            colon_in(b, na, nb)
        } else {
            None
        };
        let Ok(ns) = self.element_ns(colon.map(|c| (na, c))) else {
            let prefix = self.str(na, colon.unwrap_or(na));
            return fault(at, XmlErrorKind::UndeclaredPrefix(short(prefix)));
        };
        if !self.qname_ok(na, nb, name_class, colon) {
            return fault(at, XmlErrorKind::BadName(short(self.str(na, nb))));
        }
        let local = colon.map_or(na, |c| c + 1);
        let id = self.elements.len() as u32;
        let parent = self.open.last().map_or(NONE, |o| o.id);
        let attr_start = self.attributes.len();
        let mut count = 0usize;
        self.raw_keys.clear();
        for t in attrs {
            let t = match t {
                Ok(t) => t,
                Err(BadAttr::Malformed) => return syntax(at, "an attribute is malformed"),
                Err(BadAttr::NoSpace(k)) => {
                    return syntax(k, "attributes must be separated by whitespace")
                }
            };
            count += 1;
            if count > self.limits.max_attributes {
                return fault(
                    at,
                    XmlErrorKind::TooManyAttributes {
                        limit: self.limits.max_attributes,
                    },
                );
            }
            let (ka, kb) = (t.key.0 as usize, t.key.1 as usize);
            let key = &b[ka..kb];
            // Raw qualified names must be unique, namespace declarations
            // included.
            if self
                .raw_keys
                .iter()
                .any(|&(a, e)| e - a == (kb - ka) as u32 && same(&b[a as usize..e as usize], key))
            {
                return fault(
                    at,
                    XmlErrorKind::DuplicateAttribute(short(self.str(ka, kb))),
                );
            }
            self.raw_keys.push(t.key);
            if key.starts_with(b"xmlns") && matches!(key.get(5), None | Some(b':')) {
                continue;
            }
            let colon = if t.key_class & COLON != 0 {
                colon_in(b, ka, kb)
            } else {
                None
            };
            if !self.qname_ok(ka, kb, t.key_class, colon) {
                return fault(at, XmlErrorKind::BadName(short(self.str(ka, kb))));
            }
            if t.flags & V_LT != 0 {
                return syntax(at, "«<» is not allowed in an attribute value");
            }
            let ans = match colon {
                None => 0,
                Some(c) => match self.prefix_ns(ka, c) {
                    Ok(ns) => ns,
                    Err(()) => {
                        return fault(at, XmlErrorKind::UndeclaredPrefix(short(self.str(ka, c))))
                    }
                },
            };
            let la = colon.map_or(ka, |c| c + 1);
            let lname = &b[la..kb];
            // Two prefixes bound to one namespace can still name one
            // attribute twice. (Unprefixed attributes have no namespace,
            // and prefixed ones always have one, so among unprefixed ones
            // the check of raw names above has decided.)
            if ans != 0
                && self.attributes[attr_start..]
                    .iter()
                    .any(|a| a.ns == ans && same(&b[a.name.0 as usize..a.name.1 as usize], lname))
            {
                return fault(
                    at,
                    XmlErrorKind::DuplicateAttribute(short(self.str(ka, kb))),
                );
            }
            let (va, vb) = (t.value.0 as usize, t.value.1 as usize);
            let value = if t.flags & (V_AMP | V_WS) == 0 {
                Span::source(va, vb)
            } else {
                self.normalise_value(at, va, vb)?
            };
            self.attributes.push(AttributeData {
                ns: ans,
                name: (la as u32, kb as u32),
                value,
                pos: ka as u32,
            });
        }
        let attr_end = self.attributes.len();
        self.elements.push(ElementData {
            ns,
            name: (local as u32, nb as u32),
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            attrs: (attr_start as u32, attr_end as u32),
            text: Span::default(),
            pos: at as u32,
            non_ws_text: false,
            any_text: false,
            cdata: false,
        });
        if parent != NONE {
            let p = parent as usize;
            match self.elements[p].last_child {
                NONE => self.elements[p].first_child = id,
                last => self.elements[last as usize].next_sibling = id,
            }
            self.elements[p].last_child = id;
        }
        if empty {
            self.pop_bindings(bindings_before);
            if self.open.is_empty() {
                self.root_done = true;
            }
        } else {
            self.open.push(Open {
                id,
                qname: (na as u32, nb as u32),
                bindings: bindings_before as u32,
                pieces: self.pieces.len() as u32,
                scratch: self.scratch.len() as u32,
                any: false,
                non_ws: false,
            });
        }
        Ok(())
    }

    /// Normalises an attribute value into the pool, as XML (and quick-xml)
    /// does: tab, line feed, carriage return and CR LF become one space each,
    /// references are resolved. A character reference to a character XML
    /// forbids is reported after the whole value was read.
    fn normalise_value(&mut self, at: usize, va: usize, vb: usize) -> Res<Span> {
        let b = self.b;
        let start = self.pool.len();
        let mut illegal = None;
        let mut k = va;
        let mut last = va;
        while k < vb {
            match b[k] {
                b'\t' | b'\n' => {
                    self.pool.push_str(self.str(last, k));
                    self.pool.push(' ');
                    k += 1;
                    last = k;
                }
                b'\r' => {
                    self.pool.push_str(self.str(last, k));
                    self.pool.push(' ');
                    k += if b.get(k + 1) == Some(&b'\n') && k + 1 < vb {
                        2
                    } else {
                        1
                    };
                    last = k;
                }
                b'&' => {
                    self.pool.push_str(self.str(last, k));
                    let Some(semi) = memchr(b';', &b[k + 1..vb]).map(|e| k + 1 + e) else {
                        return syntax(at, "an attribute value is malformed");
                    };
                    let pat = self.str(k + 1, semi);
                    let ch = if let Some(num) = pat.strip_prefix('#') {
                        let Some(c) = char_ref(num) else {
                            return syntax(at, "an attribute value is malformed");
                        };
                        if illegal.is_none() && !crate::tree::is_xml_char(c) {
                            illegal = Some(c);
                        }
                        c
                    } else {
                        match predefined(pat) {
                            Some(c) => c,
                            None => {
                                return fault(at, XmlErrorKind::UndefinedEntity(short(pat)));
                            }
                        }
                    };
                    self.pool.push(ch);
                    k = semi + 1;
                    last = k;
                }
                _ => k += 1,
            }
        }
        self.pool.push_str(self.str(last, vb));
        if let Some(c) = illegal {
            return fault(at, XmlErrorKind::IllegalChar(c as u32));
        }
        Ok(Span::pool(start, self.pool.len()))
    }

    /// Closes the innermost open element: keeps the text of leaf elements
    /// and of mixed content, drops the indentation between child elements.
    fn close_top(&mut self) {
        let Some(open) = self.open.pop() else { return };
        let pieces_from = open.pieces as usize;
        let el = &mut self.elements[open.id as usize];
        el.any_text = open.any;
        el.non_ws_text = open.non_ws;
        if open.any && (el.first_child == NONE || open.non_ws) {
            let pieces = &self.pieces[pieces_from..];
            el.text = match pieces {
                [] => Span::default(),
                [p] if !p.scratch => Span::source(p.start as usize, p.end as usize),
                _ => {
                    let start = self.pool.len();
                    for p in pieces {
                        let whole = if p.scratch { &self.scratch } else { self.s };
                        self.pool
                            .push_str(whole.get(p.start as usize..p.end as usize).unwrap_or(""));
                    }
                    Span::pool(start, self.pool.len())
                }
            };
        }
        self.pieces.truncate(pieces_from);
        // Only text with references, CDATA or carriage returns fills the
        // scratch text: spare the truncation's character-boundary check.
        if self.scratch.len() != open.scratch as usize {
            self.scratch.truncate(open.scratch as usize);
        }
        self.pop_bindings(open.bindings as usize);
        if self.open.is_empty() {
            self.root_done = true;
        }
    }
}

/// The offset of the first `>` at or after `from` that follows `tail`
/// (`--` for comments, `]]` for CDATA, `?` for PIs).
fn find_close(b: &[u8], from: usize, tail: &[u8]) -> Option<usize> {
    let mut k = from;
    while k <= b.len() {
        let gt = k + memchr(b'>', b.get(k..)?)?;
        if b[..gt].ends_with(tail) {
            return Some(gt);
        }
        k = gt + 1;
    }
    None
}

/// The offset of the `>` that ends the tag starting at `i`: the first one
/// outside single or double quotes (quick-xml's rule, also for end tags).
fn tag_end(b: &[u8], i: usize) -> Res<usize> {
    let mut quote = 0u8;
    for k in memchr::memchr3_iter(b'>', b'\'', b'"', &b[i..]) {
        let c = b[i + k];
        match (quote, c) {
            (0, b'>') => return Ok(i + k),
            (0, q) => quote = q,
            (q, c) if q == c => quote = 0,
            _ => {}
        }
    }
    syntax(
        i,
        if quote == 0 {
            "a tag is not closed"
        } else {
            "an attribute value is not closed"
        },
    )
}

/// quick-xml's attribute iterator (without its duplicate check), over the
/// bytes of a tag after its name: whitespace, a key up to `=` or whitespace,
/// optional whitespace, `=`, optional whitespace, a quoted value. Unlike
/// quick-xml, and as XML requires, an attribute that follows a value without
/// whitespace is malformed. The first malformed attribute ends the
/// iteration.
struct AttrIter<'b> {
    b: &'b [u8],
    pos: usize,
    end: usize,
    done: bool,
    /// Whether `pos` is right after a value's closing quote.
    after_value: bool,
}

impl Iterator for AttrIter<'_> {
    type Item = Result<Token, BadAttr>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let b = self.b;
        let end = self.end;
        let skip_ws = |mut k: usize| {
            while k < end && is_ws(b[k]) {
                k += 1;
            }
            k
        };
        let key_start = skip_ws(self.pos);
        if key_start == end {
            self.done = true;
            return None;
        }
        // Any malformed attribute ends the iteration: the builder stops at
        // the first error.
        self.done = true;
        if self.after_value && key_start == self.pos {
            return Some(Err(BadAttr::NoSpace(key_start)));
        }
        // The key's first byte belongs to it even when it is `=`.
        let mut k = key_start + 1;
        while k < end && b[k] != b'=' && !is_ws(b[k]) {
            k += 1;
        }
        let key_end = k;
        if k < end && b[k] != b'=' {
            k = skip_ws(k);
        }
        if k == end || b[k] != b'=' {
            return Some(Err(BadAttr::Malformed));
        }
        k = skip_ws(k + 1);
        let q = match b.get(k) {
            Some(&q @ (b'"' | b'\'')) if k < end => q,
            _ => return Some(Err(BadAttr::Malformed)),
        };
        let value_start = k + 1;
        let Some(value_end) = memchr(q, &b[value_start..end]).map(|e| value_start + e) else {
            return Some(Err(BadAttr::Malformed));
        };
        let flags = b[value_start..value_end]
            .iter()
            .fold(0, |f, &c| f | value_flag(c));
        self.pos = value_end + 1;
        self.done = false;
        self.after_value = true;
        Some(Ok(Token {
            key: (key_start as u32, key_end as u32),
            value: (value_start as u32, value_end as u32),
            flags,
            key_class: UNCHECKED | COLON,
        }))
    }
}

/// Checks the XML declaration at the start of the source, whose `?>` ends
/// at `close` (the offset of `>`), by XML's grammar as libxml2 applies it:
///
/// ```text
/// '<?xml' S 'version' Eq Quote '1.' [0-9]* Quote
///         (S 'encoding' Eq Quote [A-Za-z] [A-Za-z0-9._-]* Quote)?
///         (S 'standalone' Eq Quote ('yes' | 'no') Quote)? S? '?>'
/// ```
///
/// with `Eq ::= S? '=' S?` and matching quotes. Versions `1.x` other than
/// 1.0 draw only a warning from libxml2, so they pass. One libxml2 quirk is
/// kept so the verdicts agree: after a UTF-8 encoding declaration it does
/// not require whitespace before `standalone`. Only the first `<?xml` of a
/// document comes here, so the happy path pays once per message.
#[cold]
#[inline(never)]
fn check_xml_decl(b: &[u8], close: usize) -> Res<()> {
    // The offset of the `?` of `?>`; `pi` made sure `<?xml` and whitespace
    // (or `?>`) precede it.
    let end = close - 1;
    let skip = |mut k: usize| {
        while k < end && is_ws(b[k]) {
            k += 1;
        }
        k
    };
    // `name Eq "value"` at `k`: the value's range and the offset after it,
    // or `None` when `name` is not there.
    let pseudo = |k: usize, name: &[u8]| -> Res<Option<(usize, usize, usize)>> {
        if !b[k..end].starts_with(name) {
            return Ok(None);
        }
        let k = skip(k + name.len());
        if b.get(k) != Some(&b'=') || k >= end {
            return syntax(k, "the XML declaration expects «=»");
        }
        let k = skip(k + 1);
        let q = match b.get(k) {
            Some(&q @ (b'"' | b'\'')) if k < end => q,
            _ => return syntax(k, "the XML declaration expects a quoted value"),
        };
        let va = k + 1;
        match memchr(q, &b[va..end]) {
            Some(e) => Ok(Some((va, va + e, va + e + 1))),
            None => syntax(k, "a value in the XML declaration is not closed"),
        }
    };
    let mut k = skip(5);
    let Some((va, vb, after)) = pseudo(k, b"version")? else {
        return syntax(k, "the XML declaration has no version");
    };
    let version = &b[va..vb];
    if !(version.starts_with(b"1.") && version[2..].iter().all(u8::is_ascii_digit)) {
        return syntax(va, "the XML version is not 1.x");
    }
    k = skip(after);
    if k == end {
        return Ok(());
    }
    if k == after {
        return syntax(k, "the XML declaration needs whitespace here");
    }
    if let Some((va, vb, after)) = pseudo(k, b"encoding")? {
        let name = &b[va..vb];
        let enc_name = name.first().is_some_and(u8::is_ascii_alphabetic)
            && name
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if !enc_name {
            return syntax(va, "the XML declaration's encoding name is not valid");
        }
        k = skip(after);
        if k == end {
            return Ok(());
        }
        let utf8 = name.eq_ignore_ascii_case(b"UTF-8") || name.eq_ignore_ascii_case(b"UTF8");
        if k == after && !utf8 {
            return syntax(k, "the XML declaration needs whitespace here");
        }
    }
    if let Some((va, vb, after)) = pseudo(k, b"standalone")? {
        if !matches!(&b[va..vb], b"yes" | b"no") {
            return syntax(va, "standalone must be «yes» or «no»");
        }
        k = skip(after);
    }
    if k != end {
        return syntax(k, "the XML declaration has unexpected content");
    }
    Ok(())
}

/// The five predefined entities.
fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// The character of a character reference's number (`65` or `x41`), as
/// quick-xml read it: no sign, no `X`, not zero, a Unicode scalar value.
fn char_ref(num: &str) -> Option<char> {
    let (digits, radix) = match num.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (num, 10),
    };
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    if code == 0 {
        return None;
    }
    char::from_u32(code)
}
