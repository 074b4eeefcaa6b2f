//! The compact tree and the builder that fills it from quick-xml events.

use crate::decode::Encoding;
use crate::{is_qname, resolve_ns, short, Ev, Limits, Reader, XmlError, XmlErrorKind};
use quick_xml::events::BytesStart;
use quick_xml::name::ResolveResult;

const NONE: u32 = u32::MAX;

/// Index of an element in its [`Document`].
pub type NodeId = u32;

#[derive(Clone, Debug)]
struct ElementData {
    ns: u32,
    /// Local name, as a byte range of the source.
    name: (u32, u32),
    parent: u32,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
    attrs: (u32, u32),
    /// Character content (text and CDATA, references resolved) as a range of
    /// the text pool. Whitespace between child elements is not kept.
    text: (u32, u32),
    /// Byte offset of the start tag's `<` in the source.
    pos: u32,
    /// True when the element had character content that is not whitespace.
    non_ws_text: bool,
    /// True when the element had any character content at all.
    any_text: bool,
    /// True when the element's own content includes a CDATA section.
    cdata: bool,
}

#[derive(Clone, Debug)]
struct AttributeData {
    ns: u32,
    name: (u32, u32),
    value: (u32, u32),
    pos: u32,
}

/// A parsed XML document: the decoded source and a read-only element tree.
#[derive(Clone, Debug)]
pub struct Document {
    source: String,
    encoding: Encoding,
    elements: Vec<ElementData>,
    attributes: Vec<AttributeData>,
    namespaces: Vec<String>,
    pool: String,
    line_starts: Vec<u32>,
}

impl Document {
    /// The root element.
    pub fn root(&self) -> Node<'_> {
        Node { doc: self, id: 0 }
    }

    /// The element with id `id`. Ids are dense, in document order, root = 0.
    pub fn node(&self, id: NodeId) -> Option<Node<'_>> {
        ((id as usize) < self.elements.len()).then_some(Node { doc: self, id })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Always false: a parsed document has a root.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// All elements in document order.
    pub fn elements(&self) -> impl Iterator<Item = Node<'_>> + '_ {
        (0..self.elements.len() as u32).map(move |id| Node { doc: self, id })
    }

    /// The encoding the input was read in.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The decoded source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Namespace URI by index (0 is the empty namespace).
    pub fn namespace(&self, index: u32) -> &str {
        self.namespaces
            .get(index as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// 1-based line and column (in characters) of a byte offset in the source.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line_idx).copied().unwrap_or(0) as usize;
        let end = (offset as usize).min(self.source.len());
        let column = self
            .source
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line_idx as u32 + 1, column as u32 + 1)
    }

    fn slice(&self, r: (u32, u32)) -> &str {
        self.source.get(r.0 as usize..r.1 as usize).unwrap_or("")
    }

    fn pooled(&self, r: (u32, u32)) -> &str {
        self.pool.get(r.0 as usize..r.1 as usize).unwrap_or("")
    }
}

/// An element of a [`Document`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Node<'d> {
    doc: &'d Document,
    id: NodeId,
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({} {{{}}}{})", self.id, self.ns(), self.name())
    }
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.doc, other.doc) && self.id == other.id
    }
}

impl<'d> Node<'d> {
    fn data(&self) -> &'d ElementData {
        &self.doc.elements[self.id as usize]
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn document(&self) -> &'d Document {
        self.doc
    }

    /// Namespace URI ("" when none).
    pub fn ns(&self) -> &'d str {
        self.doc.namespace(self.data().ns)
    }

    /// Namespace index in the document's namespace table.
    pub fn ns_index(&self) -> u32 {
        self.data().ns
    }

    /// Local name.
    pub fn name(&self) -> &'d str {
        self.doc.slice(self.data().name)
    }

    /// True when the element has namespace `ns` and local name `name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name() == name && self.ns() == ns
    }

    pub fn parent(&self) -> Option<Node<'d>> {
        let p = self.data().parent;
        (p != NONE).then_some(Node {
            doc: self.doc,
            id: p,
        })
    }

    /// Child elements in order.
    pub fn children(&self) -> Children<'d> {
        Children {
            doc: self.doc,
            next: self.data().first_child,
        }
    }

    /// True when the element has child elements.
    pub fn has_children(&self) -> bool {
        self.data().first_child != NONE
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<Node<'d>> {
        self.children().find(|c| c.is(ns, name))
    }

    /// The first child with this local name, whatever its namespace.
    pub fn child_local(&self, name: &str) -> Option<Node<'d>> {
        self.children().find(|c| c.name() == name)
    }

    /// Children with this namespace and local name.
    pub fn children_named<'a>(
        &self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = Node<'d>> + 'a
    where
        'd: 'a,
    {
        self.children().filter(move |c| c.is(ns, name))
    }

    /// Descendant-or-self elements in document order.
    pub fn descendants(&self) -> impl Iterator<Item = Node<'d>> + 'd {
        let doc = self.doc;
        let start = self.id;
        // Ids are in document order, so the subtree is a contiguous id range
        // ending before the next element that is not a descendant.
        let mut end = doc.elements.len() as u32;
        let mut cur = *self;
        loop {
            if cur.data().next_sibling != NONE {
                end = cur.data().next_sibling;
                break;
            }
            match cur.parent() {
                Some(p) => cur = p,
                None => break,
            }
        }
        (start..end).map(move |id| Node { doc, id })
    }

    /// Character content of this element (text and CDATA, entity and character
    /// references resolved, line ends normalised). For an element with child
    /// elements, whitespace-only runs between them are not included.
    pub fn text(&self) -> &'d str {
        self.doc.pooled(self.data().text)
    }

    /// True when the element has character content other than whitespace.
    pub fn has_text(&self) -> bool {
        self.data().non_ws_text
    }

    /// True when the element has any character content, whitespace included.
    pub fn has_any_text(&self) -> bool {
        self.data().any_text
    }

    /// True when the element's own content includes a CDATA section (even an
    /// empty or whitespace-only one).
    pub fn has_cdata(&self) -> bool {
        self.data().cdata
    }

    /// Attributes, namespace declarations excluded.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'d>> + 'd {
        let doc = self.doc;
        let (a, b) = self.data().attrs;
        (a..b).map(move |i| Attribute {
            doc,
            data: &doc.attributes[i as usize],
        })
    }

    /// Value of the attribute with no namespace and this local name.
    pub fn attr(&self, name: &str) -> Option<&'d str> {
        self.attributes()
            .find(|a| a.name() == name && a.ns().is_empty())
            .map(|a| a.value())
    }

    /// Value of the attribute with this namespace and local name.
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&'d str> {
        self.attributes()
            .find(|a| a.name() == name && a.ns() == ns)
            .map(|a| a.value())
    }

    /// Byte offset of the start tag in the decoded source.
    pub fn offset(&self) -> u32 {
        self.data().pos
    }

    /// 1-based line and column of the start tag.
    pub fn line_col(&self) -> (u32, u32) {
        self.doc.line_col(self.data().pos)
    }

    /// 1-based position among the siblings with the same namespace and name.
    pub fn sibling_index(&self) -> usize {
        match self.parent() {
            None => 1,
            Some(p) => {
                let mut i = 0;
                for c in p.children() {
                    if c.data().ns == self.data().ns && c.name() == self.name() {
                        i += 1;
                    }
                    if c.id == self.id {
                        break;
                    }
                }
                i
            }
        }
    }

    /// Number of siblings (self included) with the same namespace and name.
    pub fn same_name_siblings(&self) -> usize {
        match self.parent() {
            None => 1,
            Some(p) => p
                .children()
                .filter(|c| c.data().ns == self.data().ns && c.name() == self.name())
                .count(),
        }
    }

    /// The absolute path of local names, with a 1-based index on each step
    /// where `indexed(step)` says so (a schema-aware caller indexes the
    /// elements that may repeat).
    pub fn path_with(&self, mut indexed: impl FnMut(Node<'d>) -> bool) -> String {
        let mut steps = Vec::new();
        let mut cur = Some(*self);
        while let Some(n) = cur {
            steps.push(n);
            cur = n.parent();
        }
        let mut out = String::new();
        for n in steps.iter().rev() {
            out.push('/');
            out.push_str(n.name());
            if indexed(*n) {
                out.push('[');
                out.push_str(&n.sibling_index().to_string());
                out.push(']');
            }
        }
        out
    }

    /// The absolute path with an index on the steps that repeat in this document.
    pub fn path(&self) -> String {
        self.path_with(|n| n.same_name_siblings() > 1)
    }
}

/// Iterator over an element's children.
#[derive(Clone)]
pub struct Children<'d> {
    doc: &'d Document,
    next: u32,
}

impl<'d> Iterator for Children<'d> {
    type Item = Node<'d>;
    fn next(&mut self) -> Option<Node<'d>> {
        if self.next == NONE {
            return None;
        }
        let n = Node {
            doc: self.doc,
            id: self.next,
        };
        self.next = self.doc.elements[self.next as usize].next_sibling;
        Some(n)
    }
}

/// An attribute of an element.
#[derive(Clone, Copy)]
pub struct Attribute<'d> {
    doc: &'d Document,
    data: &'d AttributeData,
}

impl<'d> Attribute<'d> {
    pub fn ns(&self) -> &'d str {
        self.doc.namespace(self.data.ns)
    }
    pub fn name(&self) -> &'d str {
        self.doc.slice(self.data.name)
    }
    /// The normalised value (references resolved, tabs and line ends as spaces).
    pub fn value(&self) -> &'d str {
        self.doc.pooled(self.data.value)
    }
    /// Byte offset of the attribute name in the decoded source.
    pub fn offset(&self) -> u32 {
        self.data.pos
    }
    pub fn line_col(&self) -> (u32, u32) {
        self.doc.line_col(self.data.pos)
    }
}

/// An error found while reading, at a byte offset; line and column are
/// computed once the source is back in the document.
pub(crate) struct Fault {
    offset: usize,
    kind: XmlErrorKind,
}

/// Per open element: its id, and its character content so far.
struct Open {
    id: u32,
    text: String,
    non_ws: bool,
    any: bool,
}

pub(crate) struct Builder {
    doc: Document,
    /// Byte ranges of the raw attribute names of the element being read,
    /// reused from element to element.
    raw_keys: Vec<(usize, usize)>,
    /// Reusable text buffers for open elements.
    spare: Vec<String>,
}

impl Builder {
    pub(crate) fn new(source: String, encoding: Encoding) -> Self {
        let mut line_starts = Vec::with_capacity(source.len() / 40 + 1);
        line_starts.push(0);
        line_starts.extend(memchr::memchr_iter(b'\n', source.as_bytes()).map(|i| i as u32 + 1));
        Builder {
            doc: Document {
                encoding,
                elements: Vec::with_capacity(source.len() / 60 + 1),
                attributes: Vec::new(),
                namespaces: vec![String::new()],
                pool: String::with_capacity(source.len() / 4),
                line_starts,
                source,
            },
            spare: Vec::new(),
            raw_keys: Vec::new(),
        }
    }

    fn err_at(&self, offset: usize, kind: XmlErrorKind) -> Fault {
        Fault { offset, kind }
    }

    pub(crate) fn build(mut self, limits: &Limits) -> Result<Document, XmlError> {
        // The reader borrows the source while the builder fills the tables, so
        // take the source out for the duration and put it back at the end.
        let source = std::mem::take(&mut self.doc.source);
        let result = self.run(&source, limits);
        self.doc.source = source;
        match result {
            Ok(()) => Ok(self.doc),
            Err(Fault { offset, kind }) => {
                let (line, column) = self.doc.line_col(offset as u32);
                Err(XmlError { kind, line, column })
            }
        }
    }

    fn run(&mut self, src: &str, limits: &Limits) -> Result<(), Fault> {
        let mut reader: Reader<'_> = Reader::from_reader(src.as_bytes());
        {
            let cfg = reader.config_mut();
            cfg.check_end_names = true;
            cfg.check_comments = true;
            cfg.expand_empty_elements = false;
            cfg.allow_unmatched_ends = false;
        }
        let mut stack: Vec<Open> = Vec::new();
        let mut root_done = false;
        loop {
            let pos = reader.buffer_position() as usize;
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => return Err(self.map_error(&reader, e, pos)),
            };
            match event {
                Ev::Start(ref start) | Ev::Empty(ref start) => {
                    let is_empty = matches!(event, Ev::Empty(_));
                    if root_done {
                        return Err(self.err_at(pos, XmlErrorKind::ContentAfterRoot));
                    }
                    if stack.len() >= limits.max_depth {
                        return Err(self.err_at(
                            pos,
                            XmlErrorKind::TooDeep {
                                limit: limits.max_depth,
                            },
                        ));
                    }
                    let id = self.open_element(&reader, start, pos, src, &stack, limits)?;
                    if is_empty {
                        self.close(Open {
                            id,
                            text: String::new(),
                            non_ws: false,
                            any: false,
                        });
                        if stack.is_empty() {
                            root_done = true;
                        }
                    } else {
                        let text = self.spare.pop().unwrap_or_default();
                        stack.push(Open {
                            id,
                            text,
                            non_ws: false,
                            any: false,
                        });
                    }
                }
                Ev::End(_) => {
                    let Some(open) = stack.pop() else {
                        return Err(self.err_at(pos, XmlErrorKind::UnmatchedEndTag(String::new())));
                    };
                    self.close(open);
                    if stack.is_empty() {
                        root_done = true;
                    }
                }
                Ev::Text(t) => {
                    let content = t.xml10_content();
                    self.push_text(&mut stack, &content, pos, root_done)?;
                }
                Ev::CData(t) => {
                    if stack.is_empty() {
                        return Err(self.err_at(pos, XmlErrorKind::TextBeforeRoot));
                    }
                    let content = t.xml10_content();
                    self.push_text(&mut stack, &content, pos, root_done)?;
                    // An empty CDATA section still counts as character
                    // content (libxml2 refuses it in empty-content types),
                    // and libxml2 refuses any CDATA in element-only content.
                    if let Some(open) = stack.last_mut() {
                        open.any = true;
                        self.doc.elements[open.id as usize].cdata = true;
                    }
                }
                Ev::GeneralRef(r) => {
                    let ch = match r.resolve_char_ref() {
                        Ok(Some(c)) => {
                            if !is_xml_char(c) {
                                return Err(self.err_at(pos, XmlErrorKind::IllegalChar(c as u32)));
                            }
                            c
                        }
                        Ok(None) => match &*r {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(
                                    self.err_at(pos, XmlErrorKind::UndefinedEntity(short(other)))
                                )
                            }
                        },
                        Err(_) => return Err(self.err_at(pos, XmlErrorKind::BadCharRef)),
                    };
                    let mut buf = [0u8; 4];
                    let s: &str = ch.encode_utf8(&mut buf);
                    self.push_text(&mut stack, s, pos, root_done)?;
                }
                Ev::DocType(_) => return Err(self.err_at(pos, XmlErrorKind::Dtd)),
                Ev::Decl(_) => {
                    if pos != 0 {
                        return Err(self.err_at(
                            pos,
                            XmlErrorKind::Syntax("an XML declaration may only stand at the start"),
                        ));
                    }
                }
                Ev::PI(pi) => {
                    if pi.target().eq_ignore_ascii_case("xml") {
                        return Err(self.err_at(
                            pos,
                            XmlErrorKind::Syntax("an XML declaration may only stand at the start"),
                        ));
                    }
                }
                Ev::Comment(_) => {}
                Ev::Eof => {
                    if let Some(open) = stack.last() {
                        let name = self.doc.slice(self.doc.elements[open.id as usize].name);
                        return Err(self.err_at(src.len(), XmlErrorKind::Unclosed(short(name))));
                    }
                    if !root_done {
                        return Err(self.err_at(src.len(), XmlErrorKind::NoRoot));
                    }
                    return Ok(());
                }
            }
        }
    }

    fn map_error(&self, reader: &Reader<'_>, e: quick_xml::Error, event_start: usize) -> Fault {
        use quick_xml::errors::{Error as QE, IllFormedError as IF};
        // quick-xml does not set its error offset for every error; the start
        // of the event being read is never later than the fault.
        let pos = (reader.error_position() as usize).max(event_start);
        let kind = match e {
            QE::Syntax(s) => XmlErrorKind::Syntax(match s {
                quick_xml::errors::SyntaxError::InvalidBangMarkup => "unknown markup after «<!»",
                quick_xml::errors::SyntaxError::UnclosedPI => {
                    "a processing instruction is not closed"
                }
                quick_xml::errors::SyntaxError::UnclosedXmlDecl => {
                    "the XML declaration is not closed"
                }
                quick_xml::errors::SyntaxError::UnclosedComment => "a comment is not closed",
                quick_xml::errors::SyntaxError::UnclosedDoctype => {
                    return self.err_at(pos, XmlErrorKind::Dtd)
                }
                quick_xml::errors::SyntaxError::UnclosedCData => "a CDATA section is not closed",
                quick_xml::errors::SyntaxError::UnclosedTag => "a tag is not closed",
                quick_xml::errors::SyntaxError::UnclosedSingleQuotedAttributeValue
                | quick_xml::errors::SyntaxError::UnclosedDoubleQuotedAttributeValue => {
                    "an attribute value is not closed"
                }
            }),
            QE::IllFormed(IF::MismatchedEndTag { expected, found }) => {
                XmlErrorKind::MismatchedEndTag {
                    expected: short(&expected),
                    found: short(&found),
                }
            }
            QE::IllFormed(IF::UnmatchedEndTag(t)) => XmlErrorKind::UnmatchedEndTag(short(&t)),
            QE::IllFormed(IF::MissingEndTag(t)) => XmlErrorKind::Unclosed(short(&t)),
            QE::IllFormed(IF::DoubleHyphenInComment) => {
                XmlErrorKind::Syntax("«--» inside a comment")
            }
            QE::IllFormed(IF::UnclosedReference) => {
                XmlErrorKind::Syntax("a reference has no closing «;»")
            }
            QE::IllFormed(IF::MissingDoctypeName) => XmlErrorKind::Dtd,
            QE::IllFormed(IF::MissingDeclVersion(_) | IF::UnknownVersion) => {
                XmlErrorKind::Syntax("the XML declaration has no valid version")
            }
            QE::Namespace(quick_xml::name::NamespaceError::UnknownPrefix(p)) => {
                XmlErrorKind::UndeclaredPrefix(short(&p))
            }
            QE::Namespace(_) => XmlErrorKind::Syntax("a namespace declaration is not valid"),
            QE::InvalidAttr(_) => XmlErrorKind::Syntax("an attribute is malformed"),
            QE::Escape(_) => XmlErrorKind::Syntax("a reference is malformed"),
            QE::Encoding(_) => XmlErrorKind::Syntax("the text is not valid in its encoding"),
            _ => XmlErrorKind::Syntax("the XML is malformed"),
        };
        self.err_at(pos, kind)
    }

    fn intern_ns(&mut self, uri: &str) -> u32 {
        if uri.is_empty() {
            return 0;
        }
        // A document uses a handful of namespaces: a linear scan is fastest.
        if let Some(i) = self.doc.namespaces.iter().position(|n| n == uri) {
            return i as u32;
        }
        self.doc.namespaces.push(uri.to_owned());
        (self.doc.namespaces.len() - 1) as u32
    }

    fn open_element(
        &mut self,
        reader: &Reader<'_>,
        start: &BytesStart<'_>,
        pos: usize,
        src: &str,
        stack: &[Open],
        limits: &Limits,
    ) -> Result<u32, Fault> {
        let qname = start.name();
        let (res, local) = reader.resolver().resolve_element(qname);
        let ns = match resolve_ns(&res) {
            Ok(ns) => self.intern_ns(ns),
            Err(prefix) => return Err(self.err_at(pos, XmlErrorKind::UndeclaredPrefix(prefix))),
        };
        let base = src.as_ptr() as usize;
        let local_bytes = local.as_ref();
        let local_off = local_bytes.as_ptr() as usize - base;
        let qname_str = qname.as_ref();
        if !is_qname(qname_str) {
            return Err(self.err_at(pos, XmlErrorKind::BadName(short(qname.as_ref()))));
        }
        let id = self.doc.elements.len() as u32;
        let parent = stack.last().map(|o| o.id).unwrap_or(NONE);
        let attr_start = self.doc.attributes.len() as u32;
        let mut count = 0usize;
        // Raw qualified names and resolved (namespace, local name) pairs seen so
        // far: both must be unique on one element.
        self.raw_keys.clear();
        for attr in start.attributes().with_checks(false) {
            let attr = match attr {
                Ok(a) => a,
                Err(_) => {
                    return Err(self.err_at(pos, XmlErrorKind::Syntax("an attribute is malformed")))
                }
            };
            count += 1;
            if count > limits.max_attributes {
                return Err(self.err_at(
                    pos,
                    XmlErrorKind::TooManyAttributes {
                        limit: limits.max_attributes,
                    },
                ));
            }
            let key = attr.key;
            let key_off = key.as_ref().as_ptr() as usize - base;
            let key_len = key.as_ref().len();
            if self
                .raw_keys
                .iter()
                .any(|&(o, l)| src.get(o..o + l) == Some(key.as_ref()))
            {
                return Err(self.err_at(pos, XmlErrorKind::DuplicateAttribute(short(key.as_ref()))));
            }
            self.raw_keys.push((key_off, key_len));
            if key.as_namespace_binding().is_some() {
                continue;
            }
            let key_str = key.as_ref();
            if !is_qname(key_str) {
                return Err(self.err_at(pos, XmlErrorKind::BadName(short(key.as_ref()))));
            }
            if attr.value.contains('<') {
                return Err(self.err_at(
                    pos,
                    XmlErrorKind::Syntax("«<» is not allowed in an attribute value"),
                ));
            }
            let (res, alocal) = reader.resolver().resolve_attribute(key);
            let ans = match &res {
                ResolveResult::Unknown(p) => {
                    return Err(self.err_at(pos, XmlErrorKind::UndeclaredPrefix(short(p))))
                }
                ResolveResult::Unbound => 0,
                ResolveResult::Bound(n) => self.intern_ns(n.as_ref()),
            };
            let lb = alocal.as_ref();
            let loff = lb.as_ptr() as usize - base;
            let lname = src.get(loff..loff + lb.len()).unwrap_or("");
            // Two prefixes bound to one namespace can still name one attribute twice.
            let doc = &self.doc;
            if doc.attributes[attr_start as usize..].iter().any(|a| {
                a.ns == ans && src.get(a.name.0 as usize..a.name.1 as usize) == Some(lname)
            }) {
                return Err(self.err_at(pos, XmlErrorKind::DuplicateAttribute(short(key.as_ref()))));
            }
            let value = match attr.normalized_value(quick_xml::XmlVersion::Explicit1_0) {
                Ok(v) => v,
                Err(quick_xml::Error::Escape(
                    quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                )) => return Err(self.err_at(pos, XmlErrorKind::UndefinedEntity(short(&name)))),
                Err(_) => {
                    return Err(
                        self.err_at(pos, XmlErrorKind::Syntax("an attribute value is malformed"))
                    )
                }
            };
            if let Some(c) = attr
                .value
                .contains('&')
                .then(|| value.chars().find(|&c| !is_xml_char(c)))
                .flatten()
            {
                return Err(self.err_at(pos, XmlErrorKind::IllegalChar(c as u32)));
            }
            let vstart = self.doc.pool.len() as u32;
            self.doc.pool.push_str(&value);
            let vend = self.doc.pool.len() as u32;
            self.doc.attributes.push(AttributeData {
                ns: ans,
                name: (loff as u32, (loff + lb.len()) as u32),
                value: (vstart, vend),
                pos: (key.as_ref().as_ptr() as usize - base) as u32,
            });
        }
        let attr_end = self.doc.attributes.len() as u32;
        self.doc.elements.push(ElementData {
            ns,
            name: (local_off as u32, (local_off + local_bytes.len()) as u32),
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            attrs: (attr_start, attr_end),
            text: (0, 0),
            pos: pos as u32,
            non_ws_text: false,
            any_text: false,
            cdata: false,
        });
        if parent != NONE {
            let p = parent as usize;
            let last = self.doc.elements[p].last_child;
            if last == NONE {
                self.doc.elements[p].first_child = id;
            } else {
                self.doc.elements[last as usize].next_sibling = id;
            }
            self.doc.elements[p].last_child = id;
        }
        Ok(id)
    }

    fn push_text(
        &mut self,
        stack: &mut [Open],
        content: &str,
        pos: usize,
        root_done: bool,
    ) -> Result<(), Fault> {
        let ws = content
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        match stack.last_mut() {
            None => {
                if ws {
                    Ok(())
                } else if root_done {
                    Err(self.err_at(pos, XmlErrorKind::ContentAfterRoot))
                } else {
                    Err(self.err_at(pos, XmlErrorKind::TextBeforeRoot))
                }
            }
            Some(open) => {
                if content.is_empty() {
                    return Ok(());
                }
                open.any = true;
                if !ws {
                    open.non_ws = true;
                }
                open.text.push_str(content);
                Ok(())
            }
        }
    }

    fn close(&mut self, mut open: Open) {
        let el = &mut self.doc.elements[open.id as usize];
        el.any_text = open.any;
        el.non_ws_text = open.non_ws;
        // Keep the text of leaf elements, and of mixed content; drop the
        // indentation between child elements.
        if open.any && (el.first_child == NONE || open.non_ws) {
            let start = self.doc.pool.len() as u32;
            self.doc.pool.push_str(&open.text);
            el.text = (start, self.doc.pool.len() as u32);
        }
        open.text.clear();
        self.spare.push(open.text);
    }
}

/// XML 1.0 `Char`.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}
