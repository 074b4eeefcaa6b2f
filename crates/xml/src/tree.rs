//! The compact, read-only tree that [`crate::scan`] fills.

use crate::decode::Encoding;

/// "No element": the parent of the root, the child of a leaf.
pub(crate) const NONE: u32 = u32::MAX;

/// Index of an element in its [`Document`].
pub type NodeId = u32;

/// A byte range of text: of the source when the text there needs no change
/// (most attribute values and most element texts: one run, no reference, no
/// line end to normalise), of the text pool otherwise. Pointing into the
/// source saves a copy of nearly every value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) pooled: bool,
}

impl Span {
    pub(crate) fn source(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
            pooled: false,
        }
    }

    pub(crate) fn pool(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
            pooled: true,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ElementData {
    pub(crate) ns: u32,
    /// Local name, as a byte range of the source.
    pub(crate) name: (u32, u32),
    pub(crate) parent: u32,
    pub(crate) first_child: u32,
    pub(crate) last_child: u32,
    pub(crate) next_sibling: u32,
    pub(crate) attrs: (u32, u32),
    /// Character content (text and CDATA, references resolved, line ends
    /// normalised). Whitespace between child elements is not kept.
    pub(crate) text: Span,
    /// Byte offset of the start tag's `<` in the source.
    pub(crate) pos: u32,
    /// True when the element had character content that is not whitespace.
    pub(crate) non_ws_text: bool,
    /// True when the element had any character content at all.
    pub(crate) any_text: bool,
    /// True when the element's own content includes a CDATA section.
    pub(crate) cdata: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct AttributeData {
    pub(crate) ns: u32,
    /// Local name, as a byte range of the source.
    pub(crate) name: (u32, u32),
    /// The normalised value.
    pub(crate) value: Span,
    /// Byte offset of the (qualified) name in the source.
    pub(crate) pos: u32,
}

/// A parsed XML document: the decoded source and a read-only element tree.
#[derive(Clone, Debug)]
pub struct Document {
    pub(crate) source: String,
    pub(crate) encoding: Encoding,
    pub(crate) elements: Vec<ElementData>,
    pub(crate) attributes: Vec<AttributeData>,
    /// Namespace URIs in order of first use by an element or attribute; 0 is
    /// the empty namespace.
    pub(crate) namespaces: Vec<String>,
    /// Texts and values that could not point into the source.
    pub(crate) pool: String,
    /// Line feeds before each [`LINE_BLOCK`]-byte block of the source (see
    /// [`Document::line_col`]), built on the first query: a valid message
    /// never asks for a line, so the walk over its source is saved.
    pub(crate) line_marks: std::sync::OnceLock<Vec<u32>>,
}

/// Granularity of the line index. Positions are only turned into lines and
/// columns when a finding is reported, so the index keeps one count per
/// block instead of every line start: counting the line feeds of a whole
/// message block by block costs a fraction of recording each one, and a
/// query counts at most one block more.
pub(crate) const LINE_BLOCK: usize = 1024;

/// The line index of `source`: line feeds before each block.
pub(crate) fn line_marks(source: &str) -> Vec<u32> {
    let mut marks = Vec::with_capacity(source.len() / LINE_BLOCK + 1);
    let mut lines = 0u32;
    marks.push(0);
    for block in source.as_bytes().chunks(LINE_BLOCK) {
        lines += memchr::memchr_iter(b'\n', block).count() as u32;
        marks.push(lines);
    }
    marks
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

    /// The index of namespace `uri` in [`Document::namespace`]'s table, if
    /// an element or attribute of the document uses it.
    pub fn find_namespace(&self, uri: &str) -> Option<u32> {
        self.namespaces
            .iter()
            .position(|n| n == uri)
            .map(|i| i as u32)
    }

    /// 1-based line and column (in characters) of a byte offset in the source.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let bytes = self.source.as_bytes();
        let end = (offset as usize).min(bytes.len());
        let block = end / LINE_BLOCK;
        let marks = self.line_marks.get_or_init(|| line_marks(&self.source));
        let before = marks.get(block).copied().unwrap_or(0);
        let within = memchr::memchr_iter(b'\n', &bytes[block * LINE_BLOCK..end]).count();
        let start = memchr::memrchr(b'\n', &bytes[..end]).map_or(0, |i| i + 1);
        let column = self
            .source
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (before + within as u32 + 1, column as u32 + 1)
    }

    fn slice(&self, r: (u32, u32)) -> &str {
        self.source.get(r.0 as usize..r.1 as usize).unwrap_or("")
    }

    /// The bytes of `r`: no check that it lies on character boundaries (it
    /// does), so comparing a name costs less than through [`Document::slice`].
    #[inline]
    fn slice_bytes(&self, r: (u32, u32)) -> &[u8] {
        self.source
            .as_bytes()
            .get(r.0 as usize..r.1 as usize)
            .unwrap_or(&[])
    }

    fn text_of(&self, s: Span) -> &str {
        let whole = if s.pooled { &self.pool } else { &self.source };
        whole.get(s.start as usize..s.end as usize).unwrap_or("")
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

    /// Local name as bytes: the same name as [`Node::name`], cheaper to get
    /// for a comparison.
    #[inline]
    pub fn name_bytes(&self) -> &'d [u8] {
        self.doc.slice_bytes(self.data().name)
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
        self.doc.text_of(self.data().text)
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

    /// The element's own facts, read in one look-up: for a walk that needs
    /// several of them (each accessor looks the element up again).
    #[inline]
    pub fn facts(&self) -> Facts<'d> {
        let d = self.data();
        Facts {
            ns: d.ns,
            name: self.doc.slice_bytes(d.name),
            has_children: d.first_child != NONE,
            has_text: d.non_ws_text,
            has_any_text: d.any_text,
            has_cdata: d.cdata,
            has_attributes: d.attrs.0 != d.attrs.1,
        }
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

/// What [`Node::facts`] returns: the same answers as the accessors named
/// in each field.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'d> {
    /// [`Node::ns_index`].
    pub ns: u32,
    /// [`Node::name_bytes`].
    pub name: &'d [u8],
    /// [`Node::has_children`].
    pub has_children: bool,
    /// [`Node::has_text`].
    pub has_text: bool,
    /// [`Node::has_any_text`].
    pub has_any_text: bool,
    /// [`Node::has_cdata`].
    pub has_cdata: bool,
    /// Whether [`Node::attributes`] yields any attribute.
    pub has_attributes: bool,
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
    /// Namespace index in the document's namespace table (0: no namespace);
    /// `doc.namespace(a.ns_index())` is `a.ns()`.
    pub fn ns_index(&self) -> u32 {
        self.data.ns
    }
    pub fn name(&self) -> &'d str {
        self.doc.slice(self.data.name)
    }
    /// Local name as bytes: the same name as [`Attribute::name`], cheaper to
    /// get for a comparison.
    #[inline]
    pub fn name_bytes(&self) -> &'d [u8] {
        self.doc.slice_bytes(self.data.name)
    }
    /// The normalised value (references resolved, tabs and line ends as spaces).
    pub fn value(&self) -> &'d str {
        self.doc.text_of(self.data.value)
    }
    /// Byte offset of the attribute name in the decoded source.
    pub fn offset(&self) -> u32 {
        self.data.pos
    }
    pub fn line_col(&self) -> (u32, u32) {
        self.doc.line_col(self.data.pos)
    }
}

/// XML 1.0 `Char`.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}
