//! Reference test: on generated well-formed documents, the tree `parse`
//! builds equals a tree built from quick-xml's namespace-resolved events.
//!
//! The reader used to be a tree builder over quick-xml; the scanner that
//! replaced it must read well-formed XML the same way. The documents mix
//! nesting, prefixes bound and rebound (also two prefixes to one namespace),
//! default namespaces set and unset, attributes with tabs, line ends and
//! references in their values, entity and character references, CDATA,
//! comments, processing instructions, carriage returns and non-ASCII names
//! and text. Compared per element in document order: namespace, local name,
//! parent, start-tag offset, attributes (namespace, local name, normalised
//! value), text and the text flags.

use overgang_xml::{parse, Document, Limits};
use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use std::collections::BTreeMap;

// ---- the reference: a tree from quick-xml's events --------------------

/// One element as quick-xml reads it.
#[derive(Debug, PartialEq)]
struct RefElement {
    ns: String,
    name: String,
    parent: Option<usize>,
    offset: usize,
    attributes: Vec<(String, String, String)>,
    text: String,
    has_text: bool,
    has_any_text: bool,
    has_cdata: bool,
}

fn ns_of(r: &ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) => panic!("generated an undeclared prefix {p}"),
    }
}

/// Builds the reference tree: character content of an element is its
/// text, CDATA and references in order (line ends normalised, references
/// resolved); an element with child elements keeps it only when some of it
/// is not whitespace.
fn reference(xml: &str) -> Vec<RefElement> {
    let mut reader = NsReader::from_reader(xml.as_bytes());
    reader.config_mut().check_end_names = true;
    reader.config_mut().check_comments = true;
    let mut out: Vec<RefElement> = Vec::new();
    // Per open element: index, content so far, any content, non-whitespace.
    let mut open: Vec<(usize, String, bool, bool)> = Vec::new();
    let mut children: Vec<bool> = Vec::new();
    let ws = |s: &str| s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    loop {
        let pos = reader.buffer_position() as usize;
        let event = reader.read_event().expect("quick-xml reads the document");
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let (res, local) = reader.resolver().resolve_element(e.name());
                let mut attributes = Vec::new();
                for a in e.attributes() {
                    let a = a.expect("well-formed attribute");
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ares, alocal) = reader.resolver().resolve_attribute(a.key);
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        .expect("value normalises");
                    attributes.push((ns_of(&ares), alocal.as_ref().to_owned(), value.into_owned()));
                }
                let parent = open.last().map(|o| o.0);
                if let Some(p) = parent {
                    children[p] = true;
                }
                out.push(RefElement {
                    ns: ns_of(&res),
                    name: local.as_ref().to_owned(),
                    parent,
                    offset: pos,
                    attributes,
                    text: String::new(),
                    has_text: false,
                    has_any_text: false,
                    has_cdata: false,
                });
                children.push(false);
                if matches!(event, Event::Start(_)) {
                    open.push((out.len() - 1, String::new(), false, false));
                }
            }
            Event::End(_) => {
                let (id, text, any, non_ws) = open.pop().expect("an open element");
                let el = &mut out[id];
                el.has_any_text = any;
                el.has_text = non_ws;
                if any && (!children[id] || non_ws) {
                    el.text = text;
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                if let Some(o) = open.last_mut() {
                    if !s.is_empty() {
                        o.1.push_str(&s);
                        o.2 = true;
                        o.3 |= !ws(&s);
                    }
                } else {
                    assert!(ws(&s), "generated text outside the root");
                }
            }
            Event::CData(t) => {
                let s = t.xml10_content();
                let o = open.last_mut().expect("CDATA inside the root");
                o.1.push_str(&s);
                o.2 = true;
                o.3 |= !ws(&s);
                out[o.0].has_cdata = true;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().expect("a valid reference") {
                    Some(c) => c,
                    None => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => panic!("generated entity {other}"),
                    },
                };
                let o = open.last_mut().expect("references inside the root");
                o.1.push(c);
                o.2 = true;
                o.3 |= !matches!(c, ' ' | '\t' | '\n' | '\r');
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::DocType(_) => panic!("generated a DOCTYPE"),
        }
    }
    out
}

fn ours(doc: &Document) -> Vec<RefElement> {
    doc.elements()
        .map(|n| RefElement {
            ns: n.ns().to_owned(),
            name: n.name().to_owned(),
            parent: n.parent().map(|p| p.id() as usize),
            offset: n.offset() as usize,
            attributes: n
                .attributes()
                .map(|a| (a.ns().to_owned(), a.name().to_owned(), a.value().to_owned()))
                .collect(),
            text: n.text().to_owned(),
            has_text: n.has_text(),
            has_any_text: n.has_any_text(),
            has_cdata: n.has_cdata(),
        })
        .collect()
}

// ---- generated documents ---------------------------------------------

#[derive(Debug, Clone)]
enum Item {
    /// Character data: plain text and references.
    Text(Vec<Piece>),
    CData(String),
    Comment(String),
    Pi(String),
    Element(Element),
}

#[derive(Debug, Clone)]
enum Piece {
    Plain(String),
    Ref(&'static str),
}

#[derive(Debug, Clone)]
struct Element {
    prefix: Option<usize>,
    local: &'static str,
    /// Default namespace declaration: an index into `URIS`, or `""`.
    default: Option<Option<usize>>,
    /// Extra prefix declarations (prefix, URI), also rebinding.
    declare: Vec<(usize, usize)>,
    attributes: Vec<(Option<usize>, &'static str, Vec<Piece>)>,
    children: Vec<Item>,
    /// Whitespace inside the tag: before attributes, around `=`.
    spacing: (&'static str, &'static str),
    self_close: bool,
}

const PREFIXES: &[&str] = &["p", "q", "r", "é"];
const URIS: &[&str] = &["urn:a", "urn:b", "urn:c", "http://example.com/ns/d"];
const LOCALS: &[&str] = &["a", "b", "Item", "V", "x-y", "n.1", "_z", "æøå"];
const ATTR_LOCALS: &[&str] = &["V", "DN", "S", "id", "x-y", "ø"];
const REFS: &[&str] = &[
    "&lt;",
    "&gt;",
    "&amp;",
    "&apos;",
    "&quot;",
    "&#65;",
    "&#x41;",
    "&#13;",
    "&#x9;",
    "&#10;",
    "&#xE6;",
    "&#x1F600;",
    "&#32;",
    "&#0065;",
];

/// Text without markup characters; `]]>` is broken up (attribute values
/// may contain it, CDATA may not).
fn plain(chars: &'static str) -> impl Strategy<Value = Piece> {
    proptest::string::string_regex(chars)
        .expect("regex")
        .prop_map(|s| Piece::Plain(s.replace("]]>", "]] >")))
}

fn pieces(chars: &'static str) -> impl Strategy<Value = Vec<Piece>> {
    proptest::collection::vec(
        prop_oneof![
            3 => plain(chars),
            1 => proptest::sample::select(REFS).prop_map(Piece::Ref),
        ],
        0..4,
    )
}

fn leaf_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        // No `]` in text: two pieces could join into `]]>`.
        6 => pieces("[a-zA-Z0-9 \\t\\n\\r>'\"æøå\\-]{0,12}").prop_map(Item::Text),
        2 => proptest::string::string_regex("[ \\t\\n]{1,6}")
            .expect("regex")
            .prop_map(|s| Item::Text(vec![Piece::Plain(s)])),
        1 => proptest::string::string_regex("[a-z <&>\\n\\r\\]]{0,10}")
            .expect("regex")
            .prop_map(|s| Item::CData(s.replace("]]>", "]] >"))),
        1 => proptest::string::string_regex("[a-z <&>\\n-]{0,10}")
            .expect("regex")
            .prop_map(|s| Item::Comment(s.replace('-', " - "))),
        1 => proptest::string::string_regex("[a-z <&>]{0,8}")
            .expect("regex")
            .prop_map(Item::Pi),
    ]
}

fn element(children: impl Strategy<Value = Vec<Item>>) -> impl Strategy<Value = Element> {
    let attribute = (
        proptest::option::of(0..PREFIXES.len()),
        proptest::sample::select(ATTR_LOCALS),
        pieces("[a-zA-Z0-9 \\t\\n\\r>'æ\\]]{0,10}"),
    );
    (
        (
            proptest::option::weighted(0.4, 0..PREFIXES.len()),
            proptest::sample::select(LOCALS),
            proptest::option::weighted(0.3, proptest::option::weighted(0.8, 0..URIS.len())),
            proptest::collection::vec((0..PREFIXES.len(), 0..URIS.len()), 0..3),
        ),
        proptest::collection::vec(attribute, 0..4),
        children,
        (
            proptest::sample::select(&[" ", "\n\t", "  "][..]),
            proptest::sample::select(&["", " "][..]),
        ),
        any::<bool>(),
    )
        .prop_map(
            |((prefix, local, default, declare), attributes, children, spacing, self_close)| {
                Element {
                    prefix,
                    local,
                    default,
                    declare,
                    attributes,
                    children,
                    spacing,
                    self_close,
                }
            },
        )
}

fn document() -> impl Strategy<Value = (bool, Vec<Item>, Element, Vec<Item>)> {
    let tree = leaf_item().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            1 => leaf_item(),
            2 => element(proptest::collection::vec(inner, 0..6)).prop_map(Item::Element),
        ]
    });
    let misc = prop_oneof![
        proptest::string::string_regex("[ \\n]{1,3}")
            .expect("regex")
            .prop_map(|s| Item::Text(vec![Piece::Plain(s)])),
        proptest::string::string_regex("[a-z ]{0,8}")
            .expect("regex")
            .prop_map(Item::Comment),
        proptest::string::string_regex("[a-z ]{0,8}")
            .expect("regex")
            .prop_map(Item::Pi),
    ];
    (
        any::<bool>(),
        proptest::collection::vec(misc.clone(), 0..3),
        element(proptest::collection::vec(tree, 0..8)),
        proptest::collection::vec(misc, 0..3),
    )
}

fn write_pieces(out: &mut String, pieces: &[Piece]) {
    for p in pieces {
        match p {
            Piece::Plain(s) => out.push_str(s),
            Piece::Ref(r) => out.push_str(r),
        }
    }
}

fn write_item(out: &mut String, item: &Item, scope: &BTreeMap<usize, usize>) {
    match item {
        Item::Text(pieces) => write_pieces(out, pieces),
        Item::CData(s) => {
            out.push_str("<![CDATA[");
            out.push_str(s);
            out.push_str("]]>");
        }
        Item::Comment(s) => {
            out.push_str("<!--");
            out.push_str(s);
            out.push_str("-->");
        }
        Item::Pi(s) => {
            out.push_str("<?pi ");
            out.push_str(s);
            out.push_str("?>");
        }
        Item::Element(e) => write_element(out, e, scope),
    }
}

/// Writes an element, declaring every prefix it uses that is not in scope
/// and dropping attributes that would repeat a raw or an expanded name.
fn write_element(out: &mut String, e: &Element, scope: &BTreeMap<usize, usize>) {
    let mut scope = scope.clone();
    let mut decls: Vec<(usize, usize)> = Vec::new();
    for &(p, u) in &e.declare {
        if !decls.iter().any(|d| d.0 == p) {
            decls.push((p, u));
            scope.insert(p, u);
        }
    }
    let used = e
        .prefix
        .into_iter()
        .chain(e.attributes.iter().filter_map(|a| a.0));
    for p in used {
        if let std::collections::btree_map::Entry::Vacant(v) = scope.entry(p) {
            v.insert(p % URIS.len());
            decls.push((p, p % URIS.len()));
        }
    }
    let qname = |prefix: Option<usize>, local: &str| match prefix {
        Some(p) => format!("{}:{local}", PREFIXES[p]),
        None => local.to_owned(),
    };
    let name = qname(e.prefix, e.local);
    out.push('<');
    out.push_str(&name);
    let (sp, eq) = e.spacing;
    if let Some(d) = e.default {
        out.push_str(sp);
        out.push_str("xmlns=\"");
        out.push_str(d.map_or("", |u| URIS[u]));
        out.push('"');
    }
    for &(p, u) in &decls {
        out.push_str(&format!("{sp}xmlns:{}{eq}={eq}'{}'", PREFIXES[p], URIS[u]));
    }
    let mut seen: Vec<(Option<usize>, &str)> = Vec::new();
    for (prefix, local, value) in &e.attributes {
        let expanded = (prefix.map(|p| scope[&p]), *local);
        if seen.contains(&expanded) {
            continue;
        }
        seen.push(expanded);
        out.push_str(sp);
        out.push_str(&qname(*prefix, local));
        out.push_str(eq);
        out.push('=');
        out.push_str(eq);
        out.push('"');
        write_pieces(out, value);
        out.push('"');
    }
    if e.self_close && e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &e.children {
        write_item(out, c, &scope);
    }
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

fn write_document((decl, before, root, after): &(bool, Vec<Item>, Element, Vec<Item>)) -> String {
    let mut out = String::new();
    if *decl {
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    let scope = BTreeMap::new();
    for i in before {
        write_item(&mut out, i, &scope);
    }
    write_element(&mut out, root, &scope);
    for i in after {
        write_item(&mut out, i, &scope);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_equals_a_tree_from_quick_xml_events(d in document()) {
        let xml = write_document(&d);
        let expected = reference(&xml);
        let doc = parse(xml.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("refused {xml:?}: {e}"));
        prop_assert_eq!(ours(&doc), expected, "document: {:?}", xml);
    }
}

/// The generator reaches what it is meant to: prefixes, rebinding,
/// references, CDATA, carriage returns.
#[test]
fn reference_builder_reads_a_known_document() {
    let xml = "<?xml version=\"1.0\"?>\n<p:a xmlns:p='urn:a' xmlns:q='urn:a' xmlns='urn:b'>\
               <b q:V=\"1&amp;\t2\r\n\" V='x'>t&lt;<![CDATA[c\r\nd]]>&#13;</b>\n\
               <p:c xmlns:p='urn:c'/><!-- c --></p:a>";
    let doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(ours(&doc), reference(xml));
    let b = doc.root().children().next().unwrap();
    assert_eq!(b.attr_ns("urn:a", "V"), Some("1& 2 "));
    assert_eq!(b.text(), "t<c\nd\r");
    assert_eq!(doc.root().children().nth(1).unwrap().ns(), "urn:c");
}
