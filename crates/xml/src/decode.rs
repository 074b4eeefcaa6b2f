//! From bytes to checked UTF-8 text: byte-order mark, declared encoding,
//! decoding, and XML's character rules.

use crate::{XmlError, XmlErrorKind};
use std::fmt;

/// The character encodings Overgang reads. The declared encoding in the XML
/// declaration decides; without one, UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// ISO-8859-1 (Latin-1): each byte is the code point of the same value.
    Latin1,
    /// US-ASCII: bytes above 0x7F are refused.
    Ascii,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Latin1 => "ISO-8859-1",
            Encoding::Ascii => "US-ASCII",
        })
    }
}

/// The decoded text and its encoding.
pub(crate) struct Decoded {
    pub(crate) text: String,
    pub(crate) encoding: Encoding,
}

/// Decodes `input` to a `String` after checking that every character is one
/// XML allows. Positions in errors are computed on the decoded text, so lines
/// match the original file.
pub(crate) fn decode(input: &[u8]) -> Result<Decoded, XmlError> {
    let (body, bom) = match input {
        [0xEF, 0xBB, 0xBF, rest @ ..] => (rest, true),
        [0xFE, 0xFF, ..] | [0xFF, 0xFE, ..] => {
            return Err(at_start(XmlErrorKind::UnsupportedEncoding("UTF-16".into())))
        }
        _ => (input, false),
    };
    // Say "not XML" before any complaint about encodings: a PNG or a JSON
    // body should hear the plain truth.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'<') {
        let lead = body.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let prefix = String::from_utf8_lossy(&body[..lead]);
        let (line, column) = line_col_at_end(&prefix);
        return Err(XmlError {
            kind: XmlErrorKind::NotXml,
            line,
            column,
        });
    }
    let encoding = match declared_encoding(body)? {
        None => Encoding::Utf8,
        Some(name) => {
            let e = encoding_from_label(&name)
                .ok_or_else(|| at_start(XmlErrorKind::UnsupportedEncoding(name.clone())))?;
            if bom && e != Encoding::Utf8 {
                return Err(at_start(XmlErrorKind::UnsupportedEncoding(format!(
                    "{name} with a UTF-8 byte-order mark"
                ))));
            }
            e
        }
    };
    if encoding == Encoding::Utf8 {
        if let Some(text) = copy_checked(body) {
            return Ok(Decoded { text, encoding });
        }
    }
    let text = match encoding {
        Encoding::Utf8 => match std::str::from_utf8(body) {
            Ok(s) => s.to_owned(),
            Err(e) => {
                let valid = &body[..e.valid_up_to()];
                // The valid prefix is UTF-8 by construction.
                let prefix = String::from_utf8_lossy(valid);
                let (line, column) = line_col_at_end(&prefix);
                return Err(XmlError {
                    kind: XmlErrorKind::InvalidEncoding(Encoding::Utf8),
                    line,
                    column,
                });
            }
        },
        Encoding::Ascii => {
            if let Some(i) = body.iter().position(|&b| b >= 0x80) {
                let prefix = String::from_utf8_lossy(&body[..i]);
                let (line, column) = line_col_at_end(&prefix);
                return Err(XmlError {
                    kind: XmlErrorKind::InvalidEncoding(Encoding::Ascii),
                    line,
                    column,
                });
            }
            // All bytes are ASCII, hence UTF-8.
            String::from_utf8_lossy(body).into_owned()
        }
        Encoding::Latin1 => body.iter().map(|&b| b as char).collect(),
    };
    check_chars(&text)?;
    Ok(Decoded { text, encoding })
}

fn at_start(kind: XmlErrorKind) -> XmlError {
    XmlError {
        kind,
        line: 1,
        column: 1,
    }
}

fn line_col_at_end(prefix: &str) -> (u32, u32) {
    let line = prefix.bytes().filter(|&b| b == b'\n').count() as u32 + 1;
    let last = prefix.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = prefix[last..].chars().count() as u32 + 1;
    (line, column)
}

/// Reads `encoding="…"` from an XML declaration at the very start, if any.
fn declared_encoding(body: &[u8]) -> Result<Option<String>, XmlError> {
    if !body.starts_with(b"<?xml") {
        return Ok(None);
    }
    let end = match body.windows(2).take(512).position(|w| w == b"?>") {
        Some(e) => e,
        None => {
            return Err(at_start(XmlErrorKind::Syntax(
                "the XML declaration is not closed",
            )))
        }
    };
    let decl = &body[5..end];
    let Some(i) = find(decl, b"encoding") else {
        return Ok(None);
    };
    let rest = &decl[i + 8..];
    let rest = trim_start(rest);
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Err(at_start(XmlErrorKind::Syntax(
            "the XML declaration's encoding has no value",
        )));
    };
    let rest = trim_start(rest);
    let quote = match rest.first() {
        Some(&q @ (b'"' | b'\'')) => q,
        _ => {
            return Err(at_start(XmlErrorKind::Syntax(
                "the XML declaration's encoding is not quoted",
            )))
        }
    };
    let rest = &rest[1..];
    let Some(close) = rest.iter().position(|&b| b == quote) else {
        return Err(at_start(XmlErrorKind::Syntax(
            "the XML declaration's encoding is not closed",
        )));
    };
    Ok(Some(String::from_utf8_lossy(&rest[..close]).into_owned()))
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Maps an encoding label (case-insensitive) to an [`Encoding`].
pub fn encoding_from_label(label: &str) -> Option<Encoding> {
    match label.trim().to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Some(Encoding::Utf8),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "cp819"
        | "iso-ir-100" | "ibm819" => Some(Encoding::Latin1),
        "us-ascii" | "ascii" => Some(Encoding::Ascii),
        _ => None,
    }
}

/// Refuses characters outside XML 1.0's `Char` production: C0 controls other
/// than tab, line feed and carriage return, and U+FFFE/U+FFFF. (Surrogates
/// cannot occur in a Rust string.)
///
/// This runs over every byte of every message, so it first tests whole
/// 128-byte blocks with a branch-free reduction the compiler turns into
/// vector instructions (long blocks make the final reduction to one flag
/// cheap per byte), and looks at single bytes only in a block that has a
/// control character or a 0xEF lead byte (U+F000–U+FFFF) in it.
fn check_chars(text: &str) -> Result<(), XmlError> {
    const BLOCK: usize = 128;
    let bytes = text.as_bytes();
    let mut start = 0;
    for block in bytes.chunks_exact(BLOCK) {
        let suspect = block.iter().fold(0u8, |acc, &b| acc | suspect(b) as u8);
        if suspect != 0 {
            check_bytes(text, start, start + BLOCK)?;
        }
        start += BLOCK;
    }
    check_bytes(text, start, bytes.len())
}

/// The fast path for UTF-8 input: copies `body` block by block while
/// applying [`check_chars`]'s block test, so the text is read once for the
/// copy and the character rules together, then checks the encoding on the
/// copy. `None` when any check fails: the caller then runs the checks one
/// after the other, which finds the same error at the same place as
/// before (an encoding error before a forbidden character).
fn copy_checked(body: &[u8]) -> Option<String> {
    const BLOCK: usize = 128;
    let mut out = Vec::with_capacity(body.len());
    let mut start = 0;
    for block in body.chunks_exact(BLOCK) {
        let suspect = block.iter().fold(0u8, |acc, &b| acc | suspect(b) as u8);
        if suspect != 0 && !bytes_allowed(body, start, start + BLOCK) {
            return None;
        }
        out.extend_from_slice(block);
        start += BLOCK;
    }
    if !bytes_allowed(body, start, body.len()) {
        return None;
    }
    out.extend_from_slice(body.get(start..)?);
    String::from_utf8(out).ok()
}

/// [`check_bytes`] on raw bytes: whether `from..to` holds no byte or
/// sequence that begins a character XML forbids.
fn bytes_allowed(bytes: &[u8], from: usize, to: usize) -> bool {
    (from..to).all(|i| match bytes[i] {
        b @ 0..=0x1F => matches!(b, b'\t' | b'\n' | b'\r'),
        0xEF => !(bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))),
        _ => true,
    })
}

/// Whether `b` may begin a character XML forbids. Written without branches
/// (`&`/`|` on bools) so the block test vectorises.
#[inline(always)]
fn suspect(b: u8) -> bool {
    ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0xEF)
}

/// The exact check of the bytes in `from..to` (a sequence may run past `to`).
fn check_bytes(text: &str, from: usize, to: usize) -> Result<(), XmlError> {
    let bytes = text.as_bytes();
    let mut bad = None;
    for i in from..to {
        let b = bytes[i];
        if b < 0x20 {
            if b != b'\t' && b != b'\n' && b != b'\r' {
                bad = Some((i, b as u32));
                break;
            }
        } else if b == 0xEF
            && bytes.get(i + 1) == Some(&0xBF)
            && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
        {
            bad = Some((i, if bytes[i + 2] == 0xBE { 0xFFFE } else { 0xFFFF }));
            break;
        }
    }
    match bad {
        None => Ok(()),
        Some((i, code)) => {
            let (line, column) = line_col_at_end(&text[..i]);
            Err(XmlError {
                kind: XmlErrorKind::IllegalChar(code),
                line,
                column,
            })
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::{check_chars, copy_checked};

    /// The fused copy accepts exactly what the separate checks accept,
    /// wherever in a block the offending bytes stand.
    #[test]
    fn copy_checked_agrees_with_the_separate_checks() {
        let bad: [&[u8]; 7] = [
            b"\x01",
            b"\x1f",
            "\u{FFFE}".as_bytes(),
            "\u{FFFF}".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
        ];
        let good: [&[u8]; 5] = [
            b"\t\n\r",
            "ø".as_bytes(),
            "\u{F000}".as_bytes(),
            "\u{FFFD}".as_bytes(),
            b"x",
        ];
        for len in [0usize, 1, 31, 127, 128, 129, 300] {
            for at in [0usize, len / 2, len] {
                for piece in bad.iter().chain(good.iter()) {
                    let mut v = vec![b'a'; len];
                    v.splice(at..at, piece.iter().copied());
                    let separate = std::str::from_utf8(&v)
                        .ok()
                        .filter(|s| check_chars(s).is_ok())
                        .map(str::to_owned);
                    assert_eq!(copy_checked(&v), separate, "{len} {at} {piece:?}");
                }
            }
        }
    }
}
