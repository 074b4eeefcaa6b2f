//! Deterministic mutation corpus for the differential test.
//!
//! From well-formed seed messages (the official PLO v1.6 examples, read at
//! test time) this module derives mutants by splicing the source text: it
//! deletes, duplicates and swaps elements, puts wrong values into typed
//! fields and attributes, inserts unknown elements and attributes, and adds
//! or removes attributes. There is no randomness: the candidate mutations are
//! enumerated in document order and each kind is thinned to its budget by
//! evenly spaced picks, so the same seeds always give the same mutants with
//! the same ids.
//!
//! The element scanner here is deliberately independent of `overgang_xml`:
//! the corpus must not depend on the code under test.

use std::collections::{BTreeMap, HashSet};

/// One mutated message.
#[derive(Clone, Debug)]
pub struct Mutant {
    /// Stable id, e.g. `Innleggelsesrapport_v1-6_Ny.xml#del:/MsgHead/MsgInfo/MsgId`.
    pub id: String,
    /// The mutation kind (see [`KINDS`]).
    pub kind: &'static str,
    /// What was done, for people.
    pub description: String,
    /// The seed file name.
    pub seed: String,
    /// The mutant's bytes (not always UTF-8: see kind `enc`).
    pub bytes: Vec<u8>,
}

/// Mutation kinds and how many mutants of each the corpus keeps at most.
pub const KINDS: &[(&str, usize)] = &[
    // delete an element (every depth, envelope and PLO document)
    ("del", 800),
    // duplicate an element right after itself
    ("dup", 260),
    // swap an element with its next sibling element (different names)
    ("swap", 260),
    // wrong value in a leaf element's text (typed by the value's shape)
    ("val", 520),
    // wrong value in an attribute (V, DN, S, U, ...)
    ("attrval", 420),
    // unknown element in the parent's namespace (first, middle, last child)
    ("ins", 220),
    // unknown element in a foreign namespace
    ("insforeign", 160),
    // remove an attribute
    ("attrdel", 220),
    // add an unknown attribute (no namespace, or a foreign namespace)
    ("attradd", 160),
    // character data inside an element that has child elements
    ("text", 90),
    // lexical variants of typed values: character references, CDATA,
    // comments and PIs inside values, whitespace, edge forms of numbers and
    // dates (most are valid: these catch false rejects)
    ("lex", 560),
    // xsi:nil and xsi:type on elements
    ("xsi", 180),
    // namespace changes: same namespace under another prefix (valid),
    // another known namespace, or no namespace
    ("ns", 220),
    // empty an element that has element content
    ("empty", 150),
    // comments and processing instructions between elements (valid)
    ("misc", 100),
    // RefDoc/Content (xs:any, strict): two documents, none, a nested
    // MsgHead, an unknown no-namespace element
    ("content", 100),
    // encodings and the XML declaration: ISO-8859-1 (declared or not),
    // byte-order mark, version 1.1, standalone, no declaration
    ("enc", 160),
    // break well-formedness (one per seed)
    ("wf", 22),
];

/// The XML Schema instance namespace.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The XML Schema namespace (for xsi:type values).
pub const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// A foreign namespace no schema knows.
pub const FOREIGN_NS: &str = "urn:overgang:test:foreign";

/// An element found by [`scan`], with byte offsets into the source.
#[derive(Clone, Debug)]
pub struct El {
    pub qname: String,
    pub prefix: String,
    pub local: String,
    /// Offset of the start tag's `<`.
    pub start: usize,
    /// Offset just after the start tag's `>`.
    pub tag_end: usize,
    /// Offset of the end tag's `<` (equals `tag_end` for an empty-element tag).
    pub content_end: usize,
    /// Offset just after the element (end tag or empty-element tag).
    pub end: usize,
    /// Written as `<x/>`.
    pub self_closing: bool,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub depth: usize,
    pub attrs: Vec<Attr>,
    /// Absolute path of local names; `[n]` where a name repeats among siblings.
    pub path: String,
}

/// An attribute, with byte offsets into the source.
#[derive(Clone, Debug)]
pub struct Attr {
    pub qname: String,
    /// Offset of the name.
    pub start: usize,
    /// Offset just after the closing quote.
    pub end: usize,
    /// The value's range (between the quotes).
    pub vstart: usize,
    pub vend: usize,
}

impl Attr {
    pub fn is_ns_decl(&self) -> bool {
        self.qname == "xmlns" || self.qname.starts_with("xmlns:")
    }
    pub fn local(&self) -> &str {
        self.qname.rsplit(':').next().unwrap_or(&self.qname)
    }
}

fn find(s: &[u8], from: usize, pat: &[u8]) -> Result<usize, String> {
    s.get(from..)
        .and_then(|t| t.windows(pat.len()).position(|w| w == pat))
        .map(|p| from + p)
        .ok_or_else(|| {
            format!(
                "unterminated construct at {from}: missing {}",
                String::from_utf8_lossy(pat)
            )
        })
}

fn is_name_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace() || b == b'/' || b == b'>' || b == b'=')
}

/// Scans a well-formed document into its elements, in document order.
pub fn scan(text: &str) -> Result<Vec<El>, String> {
    let s = text.as_bytes();
    let mut els: Vec<El> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(p) = s.get(i..).and_then(|t| t.iter().position(|&b| b == b'<')) {
        i += p;
        let rest = &s[i..];
        if rest.starts_with(b"<!--") {
            i = find(s, i + 4, b"-->")? + 3;
        } else if rest.starts_with(b"<?") {
            i = find(s, i + 2, b"?>")? + 2;
        } else if rest.starts_with(b"<![CDATA[") {
            i = find(s, i + 9, b"]]>")? + 3;
        } else if rest.starts_with(b"<!") {
            i = find(s, i + 2, b">")? + 1;
        } else if rest.starts_with(b"</") {
            let close = find(s, i, b">")?;
            let top = stack.pop().ok_or("end tag without start tag")?;
            els[top].content_end = i;
            els[top].end = close + 1;
            i = close + 1;
        } else {
            let start = i;
            let mut j = i + 1;
            while j < s.len() && is_name_byte(s[j]) {
                j += 1;
            }
            let qname = text[start + 1..j].to_owned();
            let mut attrs = Vec::new();
            let self_closing;
            loop {
                while j < s.len() && s[j].is_ascii_whitespace() {
                    j += 1;
                }
                match s.get(j) {
                    None => return Err("unterminated start tag".into()),
                    Some(b'/') => {
                        self_closing = true;
                        j = find(s, j, b">")? + 1;
                        break;
                    }
                    Some(b'>') => {
                        self_closing = false;
                        j += 1;
                        break;
                    }
                    Some(_) => {
                        let astart = j;
                        while j < s.len() && is_name_byte(s[j]) {
                            j += 1;
                        }
                        let aname = text[astart..j].to_owned();
                        let eq = find(s, j, b"=")?;
                        let mut q = eq + 1;
                        while q < s.len() && s[q].is_ascii_whitespace() {
                            q += 1;
                        }
                        let quote = *s.get(q).ok_or("attribute without value")?;
                        if quote != b'"' && quote != b'\'' {
                            return Err(format!("unquoted attribute at {q}"));
                        }
                        let vend = find(s, q + 1, &[quote])?;
                        attrs.push(Attr {
                            qname: aname,
                            start: astart,
                            end: vend + 1,
                            vstart: q + 1,
                            vend,
                        });
                        j = vend + 1;
                    }
                }
            }
            let (prefix, local) = match qname.split_once(':') {
                Some((p, l)) => (p.to_owned(), l.to_owned()),
                None => (String::new(), qname.clone()),
            };
            let idx = els.len();
            let parent = stack.last().copied();
            if let Some(p) = parent {
                els[p].children.push(idx);
            }
            els.push(El {
                qname,
                prefix,
                local,
                start,
                tag_end: j,
                content_end: j,
                end: j,
                self_closing,
                parent,
                children: Vec::new(),
                depth: stack.len() + 1,
                attrs,
                path: String::new(),
            });
            if !self_closing {
                stack.push(idx);
            }
            i = j;
        }
    }
    if !stack.is_empty() {
        return Err("unclosed elements at end of input".into());
    }
    // Paths, in document order (parents first).
    for idx in 0..els.len() {
        let step = match els[idx].parent {
            None => format!("/{}", els[idx].local),
            Some(p) => {
                let siblings = &els[p].children;
                let same: Vec<usize> = siblings
                    .iter()
                    .copied()
                    .filter(|&c| els[c].qname == els[idx].qname)
                    .collect();
                let mut step = format!("{}/{}", els[p].path, els[idx].local);
                if same.len() > 1 {
                    let n = same.iter().position(|&c| c == idx).unwrap_or(0) + 1;
                    step.push_str(&format!("[{n}]"));
                }
                step
            }
        };
        els[idx].path = step;
    }
    Ok(els)
}

/// A text edit: replace `start..end` with `with`.
type Edit = (usize, usize, String);

fn apply(text: &str, edits: &mut [Edit]) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_owned();
    for (s, e, w) in edits.iter() {
        out.replace_range(*s..*e, w);
    }
    out
}

struct Cand {
    kind: &'static str,
    seed: usize,
    id: String,
    description: String,
    edits: Vec<Edit>,
    post: Post,
}

/// What happens to the edited text on its way to bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Post {
    Utf8,
    /// Encode as ISO-8859-1 (characters above U+00FF become `?`).
    Latin1,
    /// Prefix a UTF-8 byte-order mark.
    Bom,
}

fn to_bytes(text: String, post: Post) -> Vec<u8> {
    match post {
        Post::Utf8 => text.into_bytes(),
        Post::Latin1 => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect(),
        Post::Bom => {
            let mut b = vec![0xEF, 0xBB, 0xBF];
            b.extend(text.into_bytes());
            b
        }
    }
}

/// Escapes a value for use inside a double-quoted attribute or text.
fn esc(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn show(v: &str) -> String {
    if v.chars().count() > 24 {
        format!(
            "{}…({} chars)",
            v.chars().take(8).collect::<String>(),
            v.len()
        )
    } else {
        format!("'{v}'")
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && is_digits(&s[0..4])
        && b[4] == b'-'
        && is_digits(&s[5..7])
        && b[7] == b'-'
        && is_digits(&s[8..10])
}

fn is_datetime(s: &str) -> bool {
    s.len() >= 16 && s.is_char_boundary(10) && is_date(&s[..10]) && s.as_bytes()[10] == b'T'
}

fn is_decimal(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => is_digits(a) && is_digits(b),
        None => false,
    }
}

/// Wrong (and some tricky but valid) values for a field whose current value
/// is `v`, each with a short label for the mutant id.
fn wrong_values(v: &str, elem_local: &str) -> Vec<(&'static str, String)> {
    let v = v.trim();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if elem_local == "MIGversion" {
        out.push(("fixed", "v1.3 2006-05-24".into()));
        out.push(("fixed-ws", format!(" {v} ")));
        out.push(("empty", String::new()));
    } else if is_datetime(v) {
        out.push(("datetime-dateonly", v[..10].to_owned()));
        out.push(("datetime-badtime", format!("{}T25:61:00", &v[..10])));
        out.push(("datetime-nosec", format!("{}T14:30", &v[..10])));
        out.push(("datetime-tz", format!("{}T14:30:00+01:00", &v[..10])));
        out.push(("datetime-abc", "abc".into()));
        out.push(("empty", String::new()));
    } else if is_date(v) {
        out.push(("date-badmonth", "2018-13-45".into()));
        out.push(("date-feb30", "2018-02-30".into()));
        out.push(("date-short", "2018-1-5".into()));
        out.push(("date-withtime", format!("{v}T12:00:00")));
        out.push(("date-abc", "abc".into()));
        out.push(("empty", String::new()));
    } else if v == "true" || v == "false" {
        out.push(("bool-yes", "yes".into()));
        out.push(("bool-1", "1".into()));
        out.push(("bool-0", "0".into()));
        out.push(("bool-TRUE", "TRUE".into()));
        out.push(("bool-ws", format!(" {v} ")));
        out.push(("empty", String::new()));
    } else if is_decimal(v) {
        out.push(("dec-comma", v.replace('.', ",")));
        out.push(("dec-abc", "abc".into()));
        out.push(("dec-neg", format!("-{v}")));
        out.push(("empty", String::new()));
    } else if is_digits(v) {
        out.push(("int-abc", "abc".into()));
        out.push(("int-frac", "1.5".into()));
        out.push(("int-neg", "-1".into()));
        out.push(("int-huge", "99999999999999999999".into()));
        out.push(("empty", String::new()));
    } else {
        out.push(("empty", String::new()));
        out.push(("long", "x".repeat(300)));
    }
    out
}

fn attr_wrong_values(attr_local: &str, v: &str, elem_local: &str) -> Vec<(&'static str, String)> {
    match attr_local {
        "S" => vec![
            ("oid-abc", "abc".into()),
            ("oid-trailingdot", format!("{v}.")),
            ("oid-urn", format!("urn:oid:{v}")),
            ("empty", String::new()),
        ],
        "DN" | "OT" => vec![("empty", String::new()), ("long", "x".repeat(300))],
        "V" | "U" => {
            let mut w = wrong_values(v, elem_local);
            if !(is_date(v) || is_datetime(v) || is_decimal(v) || is_digits(v)) {
                w.retain(|(k, _)| *k != "long");
                w.push(("code-ws", format!(" {v} ")));
            }
            w
        }
        _ => vec![("empty", String::new()), ("abc", "abc".into())],
    }
}

/// The indentation (whitespace) just before offset `at`, for pretty inserts.
fn lead_ws(text: &str, at: usize) -> &str {
    let before = &text[..at];
    let trimmed = before.trim_end_matches([' ', '\t']);
    &before[trimmed.len()..]
}

fn candidates(seed_idx: usize, name: &str, text: &str, els: &[El]) -> Vec<Cand> {
    let mut c: Vec<Cand> = Vec::new();
    let mut push = |kind: &'static str, tag: String, description: String, edits: Vec<Edit>| {
        c.push(Cand {
            kind,
            seed: seed_idx,
            id: format!("{name}#{kind}:{tag}"),
            description,
            edits,
            post: Post::Utf8,
        });
    };
    let foreign_decl = format!(" xmlns:zz=\"{FOREIGN_NS}\"");
    for (i, e) in els.iter().enumerate() {
        let is_root = e.parent.is_none();
        let leaf_text =
            (e.children.is_empty() && !e.self_closing).then(|| &text[e.tag_end..e.content_end]);
        // del
        if !is_root {
            push(
                "del",
                e.path.clone(),
                format!("delete <{}> at {}", e.qname, e.path),
                vec![(e.start, e.end, String::new())],
            );
            // dup
            let ws = lead_ws(text, e.start);
            let copy = format!(
                "\n{}{}",
                ws.trim_start_matches(['\r', '\n']),
                &text[e.start..e.end]
            );
            push(
                "dup",
                e.path.clone(),
                format!("duplicate <{}> at {} right after itself", e.qname, e.path),
                vec![(e.end, e.end, copy)],
            );
        }
        // swap with next sibling of another name
        if let Some(p) = e.parent {
            let sibs = &els[p].children;
            if let Some(pos) = sibs.iter().position(|&x| x == i) {
                if let Some(&n) = sibs.get(pos + 1) {
                    let f = &els[n];
                    if f.qname != e.qname {
                        push(
                            "swap",
                            format!("{}<->{}", e.path, f.local),
                            format!(
                                "swap <{}> and its next sibling <{}> at {}",
                                e.qname, f.qname, e.path
                            ),
                            vec![
                                (e.start, e.end, text[f.start..f.end].to_owned()),
                                (f.start, f.end, text[e.start..e.end].to_owned()),
                            ],
                        );
                    }
                }
            }
        }
        // val: wrong values in leaf text
        if let Some(t) = leaf_text {
            if !t.trim().is_empty() && !t.contains('<') && !t.contains('&') {
                for (label, w) in wrong_values(t, &e.local) {
                    push(
                        "val",
                        format!("{}={label}", e.path),
                        format!("text of {} {} -> {}", e.path, show(t.trim()), show(&w)),
                        vec![(e.tag_end, e.content_end, esc(&w))],
                    );
                }
            }
        }
        // attributes
        for a in &e.attrs {
            if a.is_ns_decl() {
                continue;
            }
            let v = &text[a.vstart..a.vend];
            for (label, w) in attr_wrong_values(a.local(), v, &e.local) {
                if w == v {
                    continue;
                }
                push(
                    "attrval",
                    format!("{}/@{}={label}", e.path, a.qname),
                    format!(
                        "attribute {}/@{} {} -> {}",
                        e.path,
                        a.qname,
                        show(v),
                        show(&w)
                    ),
                    vec![(a.vstart, a.vend, esc(&w))],
                );
            }
            // remove the attribute and the whitespace before it
            let mut s0 = a.start;
            while s0 > 0 && text.as_bytes()[s0 - 1].is_ascii_whitespace() {
                s0 -= 1;
            }
            push(
                "attrdel",
                format!("{}/@{}", e.path, a.qname),
                format!("remove attribute {} from {}", a.qname, e.path),
                vec![(s0, a.end, String::new())],
            );
        }
        // attradd: after the element name
        let name_end = e.start + 1 + e.qname.len();
        push(
            "attradd",
            format!("{}/@Ukjent", e.path),
            format!("add unknown attribute Ukjent=\"1\" to {}", e.path),
            vec![(name_end, name_end, " Ukjent=\"1\"".into())],
        );
        push(
            "attradd",
            format!("{}/@zz:Ukjent", e.path),
            format!(
                "add foreign-namespace attribute zz:Ukjent=\"1\" to {}",
                e.path
            ),
            vec![(
                name_end,
                name_end,
                format!("{foreign_decl} zz:Ukjent=\"1\""),
            )],
        );
        // ins / insforeign / text: only into elements with element content or
        // empty elements written as <x/> or <x></x>.
        let pfx = if e.prefix.is_empty() {
            String::new()
        } else {
            format!("{}:", e.prefix)
        };
        let own = format!("<{pfx}Ukjent>1</{pfx}Ukjent>");
        let foreign = format!("<zz:Ukjent{foreign_decl}>1</zz:Ukjent>");
        let mut positions: Vec<(&'static str, usize)> = Vec::new();
        if e.self_closing {
            // handled below by rewriting the tag
        } else if !e.children.is_empty() {
            positions.push(("first", e.tag_end));
            let mid = e.children[e.children.len() / 2];
            if e.children.len() > 2 {
                positions.push(("middle", els[mid].start));
            }
            positions.push(("last", e.content_end));
        } else if leaf_text.is_some_and(|t| t.trim().is_empty()) {
            positions.push(("only", e.tag_end));
        }
        for (where_, at) in &positions {
            push(
                "ins",
                format!("{}/Ukjent@{where_}", e.path),
                format!(
                    "insert unknown <{pfx}Ukjent> ({where_} child) into {}",
                    e.path
                ),
                vec![(*at, *at, own.clone())],
            );
            push(
                "insforeign",
                format!("{}/zz:Ukjent@{where_}", e.path),
                format!(
                    "insert foreign-namespace <zz:Ukjent> ({where_} child) into {}",
                    e.path
                ),
                vec![(*at, *at, foreign.clone())],
            );
        }
        if e.self_closing {
            // <x a="1"/> -> <x a="1"><Ukjent/></x>
            let slash = text[e.start..e.end].rfind('/').map(|p| e.start + p);
            if let Some(slash) = slash {
                for (kind, child) in [("ins", &own), ("insforeign", &foreign)] {
                    push(
                        kind,
                        format!(
                            "{}/{}Ukjent@only",
                            e.path,
                            if kind == "ins" { "" } else { "zz:" }
                        ),
                        format!("insert unknown child into empty element {}", e.path),
                        vec![(slash, e.end, format!(">{child}</{}>", e.qname))],
                    );
                }
            }
        }
        if !e.children.is_empty() {
            push(
                "text",
                e.path.clone(),
                format!(
                    "put character data 'abc' first inside element-only {}",
                    e.path
                ),
                vec![(e.tag_end, e.tag_end, "abc".into())],
            );
        }
    }
    // wf: drop the end tag of the deepest last element (one per seed)
    if let Some(e) = els
        .iter()
        .filter(|e| !e.self_closing && e.parent.is_some())
        .max_by_key(|e| (e.depth, e.start))
    {
        push(
            "wf",
            format!("{}/end-tag", e.path),
            format!("remove the end tag of {} (not well-formed)", e.path),
            vec![(e.content_end, e.end, String::new())],
        );
    }
    c.extend(more_candidates(seed_idx, name, text, els));
    c
}

/// The namespace bound to `prefix` ("" = default) in scope at element `idx`.
fn ns_in_scope(text: &str, els: &[El], idx: usize, prefix: &str) -> Option<String> {
    let want = if prefix.is_empty() {
        "xmlns".to_owned()
    } else {
        format!("xmlns:{prefix}")
    };
    let mut cur = Some(idx);
    while let Some(i) = cur {
        if let Some(a) = els[i].attrs.iter().find(|a| a.qname == want) {
            return Some(text[a.vstart..a.vend].to_owned());
        }
        cur = els[i].parent;
    }
    None
}

/// Lexical variants of a typed value `v`: (label, replacement markup). Most
/// denote a valid value when `v` is valid.
fn lexical_variants(v: &str) -> Vec<(&'static str, String)> {
    let t = v.trim();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if let Some(first) = t.chars().next().filter(char::is_ascii_alphanumeric) {
        out.push(("charref", format!("&#x{:X};{}", first as u32, esc(&t[1..]))));
    }
    out.push(("cdata", format!("<![CDATA[{t}]]>")));
    if t.len() >= 2 && t.is_char_boundary(1) {
        out.push((
            "comment-split",
            format!("{}<!--c-->{}", esc(&t[..1]), esc(&t[1..])),
        ));
        out.push((
            "pi-split",
            format!("{}<?pi x?>{}", esc(&t[..1]), esc(&t[1..])),
        ));
    }
    out.push(("ws-newline", format!("\n\t{}\n", esc(t))));
    if is_datetime(t) {
        let d = &t[..10];
        out.push(("dt-Z", format!("{t}Z")));
        out.push(("dt-frac", format!("{t}.123")));
        out.push(("dt-24h", format!("{d}T24:00:00")));
        out.push(("dt-1digit-hour", format!("{d}T1:02:03")));
        out.push(("dt-leap", "2016-02-29T12:00:00".into()));
        out.push(("time-only", "14:30:00".into()));
        out.push(("gyear", "2018".into()));
        out.push(("gyearmonth", "2018-01".into()));
        out.push(("dt-noleap", "2018-02-29T12:00:00".into()));
    } else if is_date(t) {
        out.push(("date-Z", format!("{t}Z")));
        out.push(("date-tz", format!("{t}+01:00")));
        out.push(("date-badtz", format!("{t}+15:00")));
        out.push(("date-year0", "0000-01-01".into()));
        out.push(("date-5digit-year", "12018-01-30".into()));
        out.push(("date-leap", "2016-02-29".into()));
        out.push(("date-noleap", "2018-02-29".into()));
        out.push(("gyear", "2018".into()));
        out.push(("time-only", "14:30:00".into()));
    } else if t == "true" || t == "false" {
        out.push(("bool-True", "True".into()));
    } else if is_decimal(t) {
        out.push(("dec-plus", format!("+{t}")));
        out.push(("dec-leading-dot", ".5".into()));
        out.push(("dec-trailing-dot", "5.".into()));
        out.push(("dec-exp", "1e3".into()));
        out.push(("dec-INF", "INF".into()));
        out.push(("dec-plusINF", "+INF".into()));
        out.push(("dec-NaN", "NaN".into()));
    } else if is_digits(t) {
        out.push(("int-plus", format!("+{t}")));
        out.push(("int-leading-zero", format!("0{t}")));
        out.push(("int-point-zero", format!("{t}.0")));
        out.push(("int-exp", "1e3".into()));
        out.push(("int-INF", "INF".into()));
        if t.len() == 4 {
            out.push(("gyear-Z", format!("{t}Z")));
            out.push(("gyear-3digit", t[1..].to_owned()));
        }
    } else if t.contains(':') && !t.contains(' ') {
        out.push(("uri-space", t.replacen(':', ": ", 1)));
        out.push(("uri-badpercent", format!("{t}%zz")));
        out.push(("uri-bracket", "http://[::1".into()));
    }
    out
}

/// Rewrites element `e`'s name (start and end tag) to `new_qname`, adding
/// `decl` (e.g. ` xmlns:q="…"`) to the start tag.
fn rename(e: &El, new_qname: &str, decl: &str) -> Vec<Edit> {
    let name_start = e.start + 1;
    let mut edits = vec![(
        name_start,
        name_start + e.qname.len(),
        format!("{new_qname}{decl}"),
    )];
    if !e.self_closing {
        let end_name = e.content_end + 2;
        edits.push((end_name, end_name + e.qname.len(), new_qname.to_owned()));
    }
    edits
}

fn more_candidates(seed_idx: usize, name: &str, text: &str, els: &[El]) -> Vec<Cand> {
    let mut c: Vec<Cand> = Vec::new();
    let mut push = |kind: &'static str, tag: String, description: String, edits: Vec<Edit>| {
        c.push(Cand {
            kind,
            seed: seed_idx,
            id: format!("{name}#{kind}:{tag}"),
            description,
            edits,
            post: Post::Utf8,
        });
    };
    // Namespaces used in this document, for "another known namespace".
    let mut known: Vec<String> = els
        .iter()
        .flat_map(|e| e.attrs.iter())
        .filter(|a| a.is_ns_decl())
        .map(|a| text[a.vstart..a.vend].to_owned())
        .filter(|u| u.starts_with("http://www.kith.no/"))
        .collect();
    known.sort();
    known.dedup();
    let xsi_decl = format!(" xmlns:xsj=\"{XSI_NS}\"");
    for (i, e) in els.iter().enumerate() {
        let leaf_text = (e.children.is_empty() && !e.self_closing)
            .then(|| &text[e.tag_end..e.content_end])
            .filter(|t| !t.trim().is_empty() && !t.contains('<') && !t.contains('&'));
        // lex: text values
        if let Some(t) = leaf_text {
            for (label, markup) in lexical_variants(t) {
                push(
                    "lex",
                    format!("{}={label}", e.path),
                    format!(
                        "text of {} {} -> {label} {}",
                        e.path,
                        show(t.trim()),
                        show(&markup)
                    ),
                    vec![(e.tag_end, e.content_end, markup)],
                );
            }
        }
        // lex: attribute values (references and line ends are normalised differently)
        for a in e
            .attrs
            .iter()
            .filter(|a| !a.is_ns_decl() && a.qname != "xsi:schemaLocation")
        {
            let v = &text[a.vstart..a.vend];
            if v.is_empty() || v.contains('&') {
                continue;
            }
            let mut variants: Vec<(&'static str, String)> = Vec::new();
            if let Some(first) = v.chars().next().filter(char::is_ascii_alphanumeric) {
                variants.push(("charref", format!("&#x{:X};{}", first as u32, &v[1..])));
            }
            variants.push(("tab-ref", format!("&#9;{v}")));
            variants.push(("newline-literal", format!("\n{v}")));
            variants.push(("inner-space", format!("{v} {v}")));
            variants.extend(
                lexical_variants(v)
                    .into_iter()
                    .filter(|(_, w)| !w.contains('<') && !w.contains('&') && !w.contains('\n')),
            );
            for (label, w) in variants {
                push(
                    "lex",
                    format!("{}/@{}={label}", e.path, a.qname),
                    format!(
                        "attribute {}/@{} {} -> {label} {}",
                        e.path,
                        a.qname,
                        show(v),
                        show(&w)
                    ),
                    vec![(a.vstart, a.vend, w)],
                );
            }
        }
        // xsi:nil / xsi:type (prefix xsj bound to the XSI namespace)
        if e.parent.is_some() {
            let name_end = e.start + 1 + e.qname.len();
            let mut xs: Vec<(&'static str, String)> = vec![
                ("nil-true", format!("{xsi_decl} xsj:nil=\"true\"")),
                ("nil-false", format!("{xsi_decl} xsj:nil=\"false\"")),
                (
                    "type-string",
                    format!("{xsi_decl} xmlns:xsd1=\"{XS_NS}\" xsj:type=\"xsd1:string\""),
                ),
                ("type-unknown", format!("{xsi_decl} xsj:type=\"Ukjent\"")),
            ];
            if e.children.is_empty() {
                xs.push((
                    "type-anyType",
                    format!("{xsi_decl} xmlns:xsd1=\"{XS_NS}\" xsj:type=\"xsd1:anyType\""),
                ));
            }
            for (label, ins) in xs {
                push(
                    "xsi",
                    format!("{}/@xsi:{label}", e.path),
                    format!("add xsi {label} to {}", e.path),
                    vec![(name_end, name_end, ins)],
                );
            }
            if leaf_text.is_some() {
                // nil with the content removed
                let mut edits = vec![(name_end, name_end, format!("{xsi_decl} xsj:nil=\"true\""))];
                edits.push((e.tag_end, e.content_end, String::new()));
                push(
                    "xsi",
                    format!("{}/@xsi:nil-true-emptied", e.path),
                    format!("xsi:nil=\"true\" and no content on {}", e.path),
                    edits,
                );
            }
        }
        // ns
        if e.parent.is_some() {
            if let Some(uri) = ns_in_scope(text, els, i, &e.prefix) {
                let q = format!("q9:{}", e.local);
                push(
                    "ns",
                    format!("{}@same-ns-new-prefix", e.path),
                    format!("same namespace, new prefix q9 on {}", e.path),
                    rename(e, &q, &format!(" xmlns:q9=\"{uri}\"")),
                );
                if let Some(other) = known.iter().find(|k| **k != uri) {
                    push(
                        "ns",
                        format!("{}@other-ns", e.path),
                        format!("move {} into namespace {other}", e.path),
                        rename(e, &q, &format!(" xmlns:q9=\"{other}\"")),
                    );
                }
                if e.prefix.is_empty() {
                    push(
                        "ns",
                        format!("{}@no-ns", e.path),
                        format!(
                            "move {} (and unprefixed descendants) into no namespace",
                            e.path
                        ),
                        rename(e, &e.qname, " xmlns=\"\""),
                    );
                } else {
                    push(
                        "ns",
                        format!("{}@same-ns-default", e.path),
                        format!("same namespace as default namespace on {}", e.path),
                        rename(e, &e.local, &format!(" xmlns=\"{uri}\"")),
                    );
                }
            }
        }
        // empty: element with element content loses it
        if !e.children.is_empty() && e.parent.is_some() {
            push(
                "empty",
                e.path.clone(),
                format!("remove all content of {}", e.path),
                vec![(e.tag_end, e.content_end, String::new())],
            );
        }
        // content: RefDoc/Content holds the PLO document (xs:any, strict)
        if e.local == "Content" && e.children.len() == 1 {
            let doc = &els[e.children[0]];
            let root = &els[0];
            let plo = &text[doc.start..doc.end];
            push(
                "content",
                format!("{}/two-documents", e.path),
                format!("two copies of the PLO document in {}", e.path),
                vec![(doc.end, doc.end, plo.to_owned())],
            );
            push(
                "content",
                format!("{}/none", e.path),
                format!("no document in {}", e.path),
                vec![(e.tag_end, e.content_end, String::new())],
            );
            push(
                "content",
                format!("{}/nested-msghead", e.path),
                format!(
                    "the whole MsgHead nested in {} instead of the PLO document",
                    e.path
                ),
                vec![(doc.start, doc.end, text[root.start..root.end].to_owned())],
            );
            push(
                "content",
                format!("{}/no-ns-unknown", e.path),
                format!(
                    "unknown no-namespace element after the document in {}",
                    e.path
                ),
                vec![(doc.end, doc.end, "<Ukjent xmlns=\"\">1</Ukjent>".into())],
            );
            push(
                "content",
                format!("{}/text", e.path),
                format!("character data next to the document in {}", e.path),
                vec![(doc.end, doc.end, "abc".into())],
            );
        }
        // misc: comment / PI / whitespace between children (valid)
        if !e.children.is_empty() {
            let at = els[e.children[e.children.len() / 2]].start;
            push(
                "misc",
                format!("{}/comment", e.path),
                format!("comment inside {}", e.path),
                vec![(at, at, "<!-- mutant -->".into())],
            );
            push(
                "misc",
                format!("{}/pi", e.path),
                format!("processing instruction inside {}", e.path),
                vec![(at, at, "<?overgang test?>".into())],
            );
        }
    }
    // enc: the XML declaration and the encoding (once per seed)
    if let Some(decl_end) = text.starts_with("<?xml").then(|| text.find("?>")).flatten() {
        let decl = &text[..decl_end];
        let enc_at = decl.find("encoding=\"UTF-8\"");
        let ver_at = decl.find("version=\"1.0\"");
        let mut add = |tag: &str, description: &str, edits: Vec<Edit>, post: Post| {
            c.push(Cand {
                kind: "enc",
                seed: seed_idx,
                id: format!("{name}#enc:{tag}"),
                description: description.to_owned(),
                edits,
                post,
            });
        };
        if let Some(at) = enc_at {
            let e = (
                at,
                at + "encoding=\"UTF-8\"".len(),
                "encoding=\"ISO-8859-1\"".to_owned(),
            );
            add(
                "latin1",
                "re-encoded as ISO-8859-1 and declared so",
                vec![e.clone()],
                Post::Latin1,
            );
            add(
                "latin1-declared-utf8",
                "ISO-8859-1 bytes, declaration still says UTF-8",
                vec![],
                Post::Latin1,
            );
            add(
                "utf8-declared-latin1",
                "UTF-8 bytes declared ISO-8859-1 (mojibake, still characters)",
                vec![e],
                Post::Utf8,
            );
        }
        add("bom", "UTF-8 byte-order mark", vec![], Post::Bom);
        if let Some(at) = ver_at {
            add(
                "xml11",
                "XML declaration says version 1.1",
                vec![(at, at + "version=\"1.0\"".len(), "version=\"1.1\"".into())],
                Post::Utf8,
            );
        }
        add(
            "standalone",
            "standalone=\"yes\" in the XML declaration",
            vec![(decl_end, decl_end, " standalone=\"yes\"".into())],
            Post::Utf8,
        );
        add(
            "nodecl",
            "no XML declaration",
            vec![(0, decl_end + 2, String::new())],
            Post::Utf8,
        );
    }
    c
}

/// Evenly spaced picks of `k` indexes out of `n` (all when `n <= k`).
fn spread(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| i * n / k).collect()
}

/// Builds the mutation corpus from `(file name, text)` seeds, each kind
/// thinned to its budget in [`KINDS`].
pub fn generate(seeds: &[(String, String)]) -> Result<Vec<Mutant>, String> {
    generate_scaled(seeds, 1)
}

/// Like [`generate`] with every budget multiplied by `scale`
/// (`usize::MAX`: every candidate).
pub fn generate_scaled(seeds: &[(String, String)], scale: usize) -> Result<Vec<Mutant>, String> {
    let mut by_kind: BTreeMap<&'static str, Vec<Cand>> = BTreeMap::new();
    for (i, (name, text)) in seeds.iter().enumerate() {
        let els = scan(text).map_err(|e| format!("{name}: {e}"))?;
        for c in candidates(i, name, text, &els) {
            by_kind.entry(c.kind).or_default().push(c);
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (kind, cap) in KINDS {
        let Some(cands) = by_kind.get_mut(kind) else {
            continue;
        };
        for idx in spread(cands.len(), cap.saturating_mul(scale)) {
            let c = &mut cands[idx];
            let (name, text) = &seeds[c.seed];
            let mut id = c.id.clone();
            let mut n = 2;
            while !seen.insert(id.clone()) {
                id = format!("{}~{n}", c.id);
                n += 1;
            }
            out.push(Mutant {
                id,
                kind,
                description: c.description.clone(),
                seed: name.clone(),
                bytes: to_bytes(apply(text, &mut c.edits), c.post),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_and_splices() {
        let t = r#"<?xml version="1.0"?><!-- c --><a x="1"><b>2018-01-01</b><c/><b>t</b></a>"#;
        let els = scan(t).expect("scan");
        assert_eq!(els.len(), 4);
        assert_eq!(els[1].path, "/a/b[1]");
        assert_eq!(&t[els[1].tag_end..els[1].content_end], "2018-01-01");
        assert!(els[2].self_closing);
        let m = generate(&[("t.xml".into(), t.into())]).expect("generate");
        let has = |m: &Mutant, s: &str| String::from_utf8_lossy(&m.bytes).contains(s);
        assert!(m
            .iter()
            .any(|m| m.id == "t.xml#del:/a/c" && !has(m, "<c/>")));
        assert!(m.iter().any(|m| has(m, "<b>2018-13-45</b>")));
        assert!(m
            .iter()
            .any(|m| m.id == "t.xml#enc:nodecl" && m.bytes.starts_with(b"<!--")));
    }
}
