//! Message templates: an example MsgHead file whose `MsgInfo/MsgId` text is
//! replaced by a fresh value for every request.
//!
//! The MsgId element is found once per file with quick-xml (namespace-aware, so
//! `<MsgId>` under a default namespace and `<mh:MsgId>` under a prefix are both
//! found); every request then splices a new value into the original bytes. The
//! bytes are never decoded or re-serialised, so a file in ISO-8859-1 is sent
//! exactly as it is, apart from the MsgId.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

/// The MsgHead namespace (KITH, 2006-05-24).
pub const MSGHEAD_NS: &str = "http://www.kith.no/xmlstds/msghead/2006-05-24";

/// Largest file taken as a template; the gateway refuses far smaller ones.
const MAX_TEMPLATE_BYTES: u64 = 64 * 1024 * 1024;

/// One example message and where its MsgId text lies (and, when it has
/// one, every place its patient's 11-digit national id is written).
#[derive(Debug, Clone)]
pub struct Template {
    pub path: PathBuf,
    bytes: Vec<u8>,
    msg_id: Range<usize>,
    patient: Vec<Range<usize>>,
}

impl Template {
    /// Finds the MsgId in `bytes`; `path` names the file in errors.
    pub fn new(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Template> {
        let path = path.into();
        let msg_id = find_msg_id(&bytes)
            .with_context(|| format!("{}: cannot use as a template", path.display()))?;
        let patient = find_patient_id(&bytes)
            .map(|r| occurrences(&bytes, &bytes[r]))
            .unwrap_or_default();
        Ok(Template {
            path,
            bytes,
            msg_id,
            patient,
        })
    }

    /// Whether the patient's national id can be replaced.
    pub fn has_patient(&self) -> bool {
        !self.patient.is_empty()
    }

    /// The file's bytes with a new MsgId and, when given and the file has
    /// one, the patient's 11-digit id replaced wherever it is written (the
    /// envelope and the document agree, as they must).
    pub fn with_ids(&self, msg_id: &[u8], patient: Option<&[u8; 11]>) -> Vec<u8> {
        let mut spans: Vec<(Range<usize>, &[u8])> = vec![(self.msg_id.clone(), msg_id)];
        if let Some(p) = patient {
            spans.extend(self.patient.iter().map(|r| (r.clone(), &p[..])));
        }
        spans.sort_by_key(|(r, _)| r.start);
        let mut out = Vec::with_capacity(self.bytes.len() + msg_id.len());
        let mut at = 0;
        for (r, new) in spans {
            if r.start < at {
                continue; // overlapping (cannot happen: an id is not in the MsgId)
            }
            out.extend_from_slice(&self.bytes[at..r.start]);
            out.extend_from_slice(new);
            at = r.end;
        }
        out.extend_from_slice(&self.bytes[at..]);
        out
    }

    /// The MsgId as the file has it (raw bytes).
    pub fn original_msg_id(&self) -> &[u8] {
        &self.bytes[self.msg_id.clone()]
    }

    /// The file's bytes with the MsgId text replaced by `msg_id`.
    pub fn with_msg_id(&self, msg_id: &[u8]) -> Vec<u8> {
        self.with_ids(msg_id, None)
    }
}

/// The byte range of the text of the first `MsgHead/MsgInfo/MsgId` element,
/// all three in the MsgHead namespace.
pub fn find_msg_id(bytes: &[u8]) -> Result<Range<usize>> {
    find_text(bytes, &["MsgHead", "MsgInfo", "MsgId"])
}

/// The first `MsgHead/MsgInfo/Patient/Ident/Id` when it is 11 digits (a
/// national id or D-number).
fn find_patient_id(bytes: &[u8]) -> Option<Range<usize>> {
    let r = find_text(bytes, &["MsgHead", "MsgInfo", "Patient", "Ident", "Id"]).ok()?;
    let v = &bytes[r.clone()];
    (v.len() == 11 && v.iter().all(u8::is_ascii_digit)).then_some(r)
}

/// Every place `digits` stands as a whole run of digits.
fn occurrences(bytes: &[u8], digits: &[u8]) -> Vec<Range<usize>> {
    let n = digits.len();
    (0..bytes.len().saturating_sub(n - 1))
        .filter(|&i| {
            bytes[i..i + n] == *digits
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && bytes.get(i + n).is_none_or(|b| !b.is_ascii_digit())
        })
        .map(|i| i..i + n)
        .collect()
}

/// A valid 11-digit Norwegian national id (both mod-11 check digits right)
/// made from `n`: a different one for each `n` below 1,008,000 (larger `n`
/// repeat). Fictitious: born 1940-1989, individual numbers 000-499.
pub fn synthetic_national_id(n: u64) -> [u8; 11] {
    let n = n % 1_008_000;
    let day = 1 + n % 28;
    let month = 1 + (n / 28) % 12;
    let year = 40 + (n / 336) % 50;
    let base = n / 16_800; // 0..60
                           // About one number in six has a check digit of 10 and is not allowed:
                           // try individual numbers base, base + 60, … (distinct for distinct n).
    let mut last = [b'0'; 11];
    for ind in (0..8).map(|j| base + 60 * j).chain(480..500) {
        let digits = format!("{day:02}{month:02}{year:02}{ind:03}");
        let mut d = [0u32; 11];
        for (i, c) in digits.bytes().enumerate() {
            d[i] = u32::from(c - b'0');
        }
        let check = |w: &[u32], d: &[u32]| {
            (11 - w.iter().zip(d).map(|(w, x)| w * x).sum::<u32>() % 11) % 11
        };
        let c1 = check(&[3, 7, 6, 1, 8, 9, 4, 5, 2], &d);
        d[9] = c1;
        let c2 = check(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], &d);
        d[10] = c2;
        let out = d.map(|x| b'0' + (x % 10) as u8);
        if c1 < 10 && c2 < 10 {
            return out;
        }
        last = out;
    }
    last
}

/// The byte range of the text of the first element at `path` (local names,
/// all in the MsgHead namespace).
fn find_text(bytes: &[u8], path: &[&str]) -> Result<Range<usize>> {
    let (last, parents) = path.split_last().context("empty path")?;
    let masked = ascii_mask(bytes);
    let mut reader = NsReader::from_str(&masked);
    // Local names of the open elements in the MsgHead namespace (None for others).
    let mut stack: Vec<Option<String>> = Vec::new();
    loop {
        let (in_msghead, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (
                matches!(ns, ResolveResult::Bound(Namespace(n)) if n == MSGHEAD_NS),
                event,
            ),
            Err(e) => bail!(
                "not well-formed XML near byte {}: {e}",
                reader.error_position()
            ),
        };
        // Whether this event is a MsgId (in the MsgHead namespace) directly
        // under MsgHead/MsgInfo.
        let is_msg_id = |local: &str| {
            in_msghead
                && local == *last
                && stack.len() == parents.len()
                && stack
                    .iter()
                    .zip(parents)
                    .all(|(a, b)| a.as_deref() == Some(*b))
        };
        match event {
            Event::Start(start) => {
                let local = start.local_name().as_ref().to_string();
                if is_msg_id(&local) {
                    let span = reader.read_to_end(start.name()).map_err(|e| {
                        anyhow::anyhow!("{last} element is not closed properly: {e}")
                    })?;
                    let range = span.start as usize..span.end as usize;
                    // The span must sit between the start tag's '>' and the end tag's '<'.
                    if range.start == 0
                        || range.end >= bytes.len()
                        || bytes[range.start - 1] != b'>'
                        || bytes[range.end] != b'<'
                    {
                        bail!("could not locate the {last} text exactly");
                    }
                    if bytes[range.clone()].contains(&b'<') {
                        bail!(
                            "{last} holds markup (elements, comments or CDATA); expected plain text"
                        );
                    }
                    return Ok(range);
                }
                stack.push(in_msghead.then_some(local));
            }
            Event::Empty(start) if is_msg_id(start.local_name().as_ref()) => {
                bail!("{last} is an empty element (<{last}/>); expected text to replace");
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    bail!(
        "no {} element in the MsgHead namespace (is this a MsgHead message?)",
        path.join("/")
    )
}

/// A copy of `bytes` of the same length that is pure ASCII: every byte from
/// 0x80 up becomes `x` (a UTF-8 byte order mark becomes spaces). All XML
/// markup is ASCII, so the copy has the same structure at the same offsets
/// whatever the file's encoding (UTF-8 or ISO-8859-1), and quick-xml, which
/// wants UTF-8, can read it; only non-ASCII names and text change, and the
/// elements looked for have ASCII names in an ASCII namespace.
fn ascii_mask(bytes: &[u8]) -> String {
    let mut out: Vec<u8> = bytes
        .iter()
        .map(|&b| if b.is_ascii() { b } else { b'x' })
        .collect();
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        out[..3].copy_from_slice(b"   ");
    }
    String::from_utf8(out).expect("ASCII is UTF-8")
}

/// Reads the templates named by `paths`: a file is taken as it is, a folder
/// gives its `*.xml` files (not its subfolders), in name order.
pub fn load_templates(paths: &[PathBuf]) -> Result<Vec<Template>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("{}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && has_xml_extension(p))
                .collect();
            if found.is_empty() {
                bail!("{}: no .xml files in this folder", path.display());
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|file| {
            let len = std::fs::metadata(&file)
                .with_context(|| format!("{}", file.display()))?
                .len();
            if len > MAX_TEMPLATE_BYTES {
                bail!(
                    "{}: {len} bytes is too large for a template",
                    file.display()
                );
            }
            let bytes = std::fs::read(&file).with_context(|| format!("{}", file.display()))?;
            Template::new(file, bytes)
        })
        .collect()
}

fn has_xml_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_national_ids_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for n in (0..3000).chain(1_000_000..1_002_000) {
            let id = synthetic_national_id(n);
            let d: Vec<u32> = id.iter().map(|b| u32::from(b - b'0')).collect();
            let w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2, 1];
            let w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1];
            assert_eq!(w1.iter().zip(&d).map(|(w, x)| w * x).sum::<u32>() % 11, 0);
            assert_eq!(w2.iter().zip(&d).map(|(w, x)| w * x).sum::<u32>() % 11, 0);
            assert!(seen.insert(id), "{n}");
        }
    }

    #[test]
    fn the_patient_id_is_replaced_everywhere_it_is_written() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/standards/examples/plo-1.6");
        let mut any = false;
        for t in load_templates(&[dir]).unwrap() {
            if !t.has_patient() {
                continue;
            }
            any = true;
            let old = String::from_utf8_lossy(&t.bytes[t.patient[0].clone()]).to_string();
            let new = synthetic_national_id(7);
            let out = t.with_ids(b"m-1", Some(&new));
            let text = String::from_utf8_lossy(&out);
            assert!(!text.contains(&old), "{}", t.path.display());
            assert_eq!(
                text.matches(std::str::from_utf8(&new).unwrap()).count(),
                t.patient.len()
            );
            assert!(text.contains("<MsgId>m-1<") || text.contains(">m-1</"));
        }
        assert!(any, "the examples have patients");
    }

    fn splice(xml: &[u8]) -> Vec<u8> {
        Template::new("sample.xml", xml.to_vec())
            .unwrap()
            .with_msg_id(b"NEW-ID")
    }

    #[test]
    fn default_namespace() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">
  <MsgInfo><Type V="X"/><MsgId>old-id</MsgId></MsgInfo>
  <Document><RefDoc><MsgId>not-this</MsgId></RefDoc></Document>
</MsgHead>"#;
        let t = Template::new("a.xml", xml.to_vec()).unwrap();
        assert_eq!(t.original_msg_id(), b"old-id");
        let out = String::from_utf8(splice(xml)).unwrap();
        assert!(out.contains("<MsgId>NEW-ID</MsgId>"));
        assert!(out.contains("<MsgId>not-this</MsgId>"));
        assert_eq!(out.replace("NEW-ID", "old-id").as_bytes(), xml);
    }

    #[test]
    fn prefixed_namespace() {
        let xml = br#"<mh:MsgHead xmlns:mh="http://www.kith.no/xmlstds/msghead/2006-05-24">
  <mh:MsgInfo>
    <mh:MsgId>
      abc
    </mh:MsgId >
  </mh:MsgInfo>
</mh:MsgHead>"#;
        let out = String::from_utf8(splice(xml)).unwrap();
        assert!(out.contains("<mh:MsgId>NEW-ID</mh:MsgId >"), "{out}");
    }

    #[test]
    fn msg_id_in_another_namespace_is_not_taken() {
        let xml = br#"<mh:MsgHead xmlns:mh="http://www.kith.no/xmlstds/msghead/2006-05-24" xmlns:o="urn:other">
  <mh:MsgInfo><o:MsgId>x</o:MsgId><mh:MsgId>y</mh:MsgId></mh:MsgInfo>
</mh:MsgHead>"#;
        let out = String::from_utf8(splice(xml)).unwrap();
        assert!(
            out.contains("<o:MsgId>x</o:MsgId><mh:MsgId>NEW-ID</mh:MsgId>"),
            "{out}"
        );
    }

    #[test]
    fn iso_8859_1_bytes_are_kept() {
        // "Blåbær" in ISO-8859-1: å = 0xE5, æ = 0xE6 (not valid UTF-8).
        let head = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<MsgHead xmlns=\"http://www.kith.no/xmlstds/msghead/2006-05-24\"><MsgInfo><MsgId>";
        let tail: &[u8] = b"</MsgId></MsgInfo><Document>Bl\xE5b\xE6r</Document></MsgHead>";
        let xml = [head.as_slice(), b"1", tail].concat();
        assert_eq!(splice(&xml), [head.as_slice(), b"NEW-ID", tail].concat());
    }

    #[test]
    fn byte_order_mark_is_kept() {
        let xml = b"\xEF\xBB\xBF<?xml version=\"1.0\"?><MsgHead xmlns=\"http://www.kith.no/xmlstds/msghead/2006-05-24\"><MsgInfo><MsgId>1</MsgId></MsgInfo></MsgHead>";
        let out = splice(xml);
        assert!(out.starts_with(b"\xEF\xBB\xBF<?xml"));
        assert!(out.windows(20).any(|w| w == b"<MsgId>NEW-ID</MsgId"));
    }

    /// Every official PLO 1.6 example (read where the project keeps them,
    /// when they are there) can be a template.
    #[test]
    fn official_examples_are_templates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/standards/examples/plo-1.6");
        if !dir.is_dir() {
            eprintln!("skipped: {} is not here", dir.display());
            return;
        }
        let templates = load_templates(&[dir]).unwrap();
        assert!(!templates.is_empty());
        for t in &templates {
            assert!(!t.original_msg_id().is_empty(), "{}", t.path.display());
        }
    }

    #[test]
    fn no_msg_id_names_the_file() {
        let xml = br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo/></MsgHead>"#;
        let err = Template::new("/some/where/broken.xml", xml.to_vec()).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("/some/where/broken.xml"), "{text}");
        assert!(text.contains("no MsgHead/MsgInfo/MsgId"), "{text}");
    }

    #[test]
    fn msg_id_without_namespace_is_not_taken() {
        let xml = br#"<MsgHead><MsgInfo><MsgId>1</MsgId></MsgInfo></MsgHead>"#;
        assert!(find_msg_id(xml).is_err());
    }

    #[test]
    fn empty_msg_id_text_can_be_filled() {
        let xml = br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><MsgId></MsgId></MsgInfo></MsgHead>"#;
        let out = String::from_utf8(splice(xml)).unwrap();
        assert!(out.contains("<MsgId>NEW-ID</MsgId>"));
    }

    #[test]
    fn self_closed_msg_id_is_an_error() {
        let xml = br#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><MsgId/></MsgInfo></MsgHead>"#;
        let err = find_msg_id(xml).unwrap_err();
        assert!(err.to_string().contains("empty element"), "{err}");
    }

    #[test]
    fn malformed_xml_is_an_error() {
        let err = Template::new("bad.xml", b"<MsgHead><MsgInfo></MsgHead>".to_vec()).unwrap_err();
        assert!(format!("{err:#}").contains("bad.xml"));
    }
}
