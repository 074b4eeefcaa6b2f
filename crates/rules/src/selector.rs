//! The selector language: a small, namespace-aware subset of XPath that says
//! which elements or attributes a rule looks at.
//!
//! ```text
//! selector  := path ("|" path)*              (the results of each path, joined)
//! path      := "." | "@" name | ["/" | "//"] step (("/" | "//") step)* ["/@" name]
//! step      := (prefix ":" (local | "*") | "*") [filter]*  |  ".."  (the parent)
//! filter    := "[" cond ("or" cond)* "]"
//! cond      := path [("=" | "!=") literal]  |  path "in" "(" literal ("," literal)* ")"
//! literal   := 'text' | "text"
//! ```
//!
//! Selectors are relative to the rule's context element (by default the
//! message's main document); a leading `/` starts at the document root
//! (`MsgHead`), `//` searches all descendants. Every element name carries a
//! prefix: `mh` (MsgHead), `po` (any PLO namespace, every version, including
//! poKomponent), `epj` (the EPJ component namespaces: cave, journal notes,
//! medication), `fk1` (felleskomponent1: persons, organisations, phone
//! numbers), `dm` (Dialogmelding), `ov` (Overgang's extension), `xsi`,
//! `*` (any namespace), or one the rule file declares under `[namespaces]`.
//! A value is an attribute's value, or an element's `V` attribute when it has
//! one (coded values and timestamps), else its trimmed text.

use overgang_xml::{Document, Node};

/// Where the names that `//` steps look for occur in a document (element
/// ids, ascending), so such a step jumps to its candidates instead of walking
/// the subtree. The catalogue knows those names when it compiles, so one pass
/// over the elements, comparing each with a handful of names, builds it.
/// Built once per message and shared by every rule.
pub struct Index<'d, 'n> {
    names: &'n [Box<str>],
    ids: Vec<Vec<u32>>,
    doc: &'d Document,
}

impl<'d, 'n> Index<'d, 'n> {
    /// Indexes the elements named in `names` (each name once).
    pub fn new(doc: &'d Document, names: &'n [Box<str>]) -> Index<'d, 'n> {
        let mut ids = vec![Vec::new(); names.len()];
        for n in doc.elements() {
            let name = n.name();
            if let Some(k) = names.iter().position(|x| **x == *name) {
                ids[k].push(n.id());
            }
        }
        Index { names, ids, doc }
    }

    /// The descendants of `n` (not `n` itself) named `local`, in document
    /// order; `None` when `local` is not indexed. Ids are in document order
    /// and a subtree is a contiguous range.
    fn descendants_named(
        &self,
        n: Node<'d>,
        local: &str,
    ) -> Option<impl Iterator<Item = Node<'d>> + '_> {
        let k = self.names.iter().position(|x| **x == *local)?;
        let list = &self.ids[k];
        let start = n.id() + 1;
        let end = n.id() + n.descendants().size_hint().0 as u32;
        let from = list.partition_point(|&i| i < start);
        Some(
            list[from..]
                .iter()
                .take_while(move |&&i| i < end)
                .filter_map(move |&i| self.doc.node(i)),
        )
    }
}

/// The MsgHead v1.2 namespace.
pub const MSGHEAD_NS: &str = "http://www.kith.no/xmlstds/msghead/2006-05-24";

/// How a prefix matches namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NsTest {
    Any,
    Exact(Box<str>),
    /// Any namespace starting with one of these.
    Prefixes(Vec<Box<str>>),
}

impl NsTest {
    fn matches(&self, ns: &str) -> bool {
        match self {
            NsTest::Any => true,
            NsTest::Exact(u) => **u == *ns,
            NsTest::Prefixes(ps) => ps.iter().any(|p| ns.starts_with(&**p)),
        }
    }
}

/// The prefixes every rule file can use without declaring them.
pub fn builtin_prefix(prefix: &str) -> Option<NsTest> {
    Some(match prefix {
        "mh" => NsTest::Exact(MSGHEAD_NS.into()),
        "po" => NsTest::Prefixes(vec![
            "http://www.kith.no/xmlstds/po/".into(),
            "http://ehelse.no/xmlstds/po/".into(),
        ]),
        "dm" => NsTest::Prefixes(vec!["http://www.kith.no/xmlstds/dialog/".into()]),
        "epj" => NsTest::Prefixes(vec!["http://www.kith.no/xmlstds/epj/".into()]),
        "fk1" => NsTest::Exact("http://www.kith.no/xmlstds/felleskomponent1".into()),
        "ov" => NsTest::Exact(crate::EXTENSION_NS.into()),
        "xsi" => NsTest::Exact(overgang_xml::XSI_NS.into()),
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Axis {
    Child,
    Descendant,
    Parent,
}

#[derive(Clone, Debug)]
struct Step {
    axis: Axis,
    ns: NsTest,
    /// `None` for `*`.
    local: Option<Box<str>>,
    filters: Vec<Vec<Cond>>,
}

impl Step {
    fn accepts(&self, n: Node<'_>) -> bool {
        self.local.as_deref().is_none_or(|l| l == n.name())
            && self.ns.matches(n.ns())
            && self
                .filters
                .iter()
                .all(|alts| alts.iter().any(|c| c.holds(n)))
    }
}

#[derive(Clone, Debug)]
enum Cond {
    Exists(Path),
    Eq(Path, Vec<String>),
    Ne(Path, String),
}

impl Cond {
    fn holds(&self, n: Node<'_>) -> bool {
        // `[@A]`, `[@A = 'x']`, `[. = 'x']`: no steps, no allocation.
        let path = match self {
            Cond::Exists(p) | Cond::Eq(p, _) | Cond::Ne(p, _) => p,
        };
        if path.steps.is_empty() && !path.absolute {
            let item = match &path.attr {
                Some(a) => match n
                    .attributes()
                    .find(|x| x.name() == &**a && x.ns().is_empty())
                {
                    Some(x) => Item::Attribute(n, x.name(), x.value()),
                    None => return false,
                },
                None => Item::Element(n),
            };
            return match self {
                Cond::Exists(_) => item.has_content(),
                Cond::Eq(_, vals) => vals.iter().any(|v| *v == item.value()),
                Cond::Ne(_, v) => *v != item.value(),
            };
        }
        match self {
            Cond::Exists(s) => s.any(n, None, &mut |i| i.has_content()),
            Cond::Eq(s, vals) => s.any(n, None, &mut |i| vals.iter().any(|v| *v == i.value())),
            Cond::Ne(s, v) => s.any(n, None, &mut |i| *v != i.value()),
        }
    }
}

/// A compiled selector: one or more paths (`A | B`), their results joined.
#[derive(Clone, Debug)]
pub struct Selector {
    alts: Vec<Path>,
    source: String,
}

/// One path of a selector.
#[derive(Clone, Debug)]
struct Path {
    absolute: bool,
    steps: Vec<Step>,
    attr: Option<Box<str>>,
}

/// What a selector found: an element, or an attribute of one.
#[derive(Clone, Copy, Debug)]
pub enum Item<'d> {
    Element(Node<'d>),
    Attribute(Node<'d>, &'d str, &'d str),
}

impl<'d> Item<'d> {
    /// The element (for an attribute: its element).
    pub fn node(&self) -> Node<'d> {
        match self {
            Item::Element(n) | Item::Attribute(n, _, _) => *n,
        }
    }

    /// The value: an attribute's value; an element's `V` attribute when it
    /// has one, else its trimmed text.
    pub fn value(&self) -> &'d str {
        match self {
            Item::Attribute(_, _, v) => v.trim(),
            Item::Element(n) => n.attr("V").unwrap_or_else(|| n.text()).trim(),
        }
    }

    /// True when there is something in it: a non-empty value, or (for an
    /// element) child elements or attributes.
    pub fn has_content(&self) -> bool {
        match self {
            Item::Attribute(_, _, v) => !v.trim().is_empty(),
            Item::Element(n) => {
                n.has_text()
                    || n.has_children()
                    || n.attributes().any(|a| a.ns() != overgang_xml::XSI_NS)
            }
        }
    }

    /// The attribute's name, for paths.
    pub fn attr_name(&self) -> Option<&'d str> {
        match self {
            Item::Attribute(_, a, _) => Some(a),
            Item::Element(_) => None,
        }
    }
}

/// Where the selection stopped finding anything: the deepest element that
/// exists on the way, and the name of the step that found nothing there.
pub struct Missing<'d> {
    pub at: Node<'d>,
    /// `Name` for an element step, `@name` for the attribute.
    pub step: String,
}

impl Selector {
    /// Parses a selector; `ns` resolves prefixes.
    pub fn parse(src: &str, ns: &dyn Fn(&str) -> Option<NsTest>) -> Result<Selector, String> {
        let mut p = Parser {
            s: src.as_bytes(),
            src,
            i: 0,
            ns,
        };
        let mut alts = vec![p.path()?];
        loop {
            p.ws();
            if p.eat("|") {
                alts.push(p.path()?);
            } else {
                break;
            }
        }
        if p.i < p.s.len() {
            return Err(format!(
                "unexpected «{}» at character {}",
                p.rest_preview(),
                p.i + 1
            ));
        }
        Ok(Selector {
            alts,
            source: src.to_owned(),
        })
    }

    /// The local names its `//` steps look for (filters included), for the
    /// catalogue's [`Index`].
    pub fn descendant_names(&self, out: &mut Vec<Box<str>>) {
        fn path(p: &Path, out: &mut Vec<Box<str>>) {
            for st in &p.steps {
                if let (Axis::Descendant, Some(l)) = (st.axis, &st.local) {
                    if !out.contains(l) {
                        out.push(l.clone());
                    }
                }
                for alts in &st.filters {
                    for c in alts {
                        match c {
                            Cond::Exists(q) | Cond::Eq(q, _) | Cond::Ne(q, _) => path(q, out),
                        }
                    }
                }
            }
        }
        for p in &self.alts {
            path(p, out);
        }
    }

    /// True for `.`: the context element itself.
    pub fn is_self(&self) -> bool {
        matches!(self.alts.as_slice(), [p] if p.steps.is_empty() && p.attr.is_none() && !p.absolute)
    }

    /// The text the selector was written as.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The name of the last element step of the first path.
    pub fn last_name(&self) -> Option<&str> {
        self.alts
            .first()
            .and_then(|p| p.steps.last())
            .and_then(|s| s.local.as_deref())
    }

    /// Everything the selector finds from `ctx`, in document order; a union
    /// lists each element or attribute once.
    pub fn select<'d>(&self, ctx: Node<'d>) -> Vec<Item<'d>> {
        self.select_in(ctx, None)
    }

    /// Whether `f` holds for something the selector finds, in document
    /// order, stopping at the first; no list is built for child-only paths.
    pub fn any<'d>(
        &self,
        ctx: Node<'d>,
        ix: Option<&Index<'d, '_>>,
        f: &mut dyn FnMut(Item<'d>) -> bool,
    ) -> bool {
        self.alts.iter().any(|p| p.any(ctx, ix, f))
    }

    /// [`Selector::select`] with the document's name index.
    pub fn select_in<'d>(&self, ctx: Node<'d>, ix: Option<&Index<'d, '_>>) -> Vec<Item<'d>> {
        match self.alts.as_slice() {
            [one] => one.select(ctx, ix),
            many => {
                // A union, as in XPath: document order, each item once.
                let mut all: Vec<Item<'d>> = many.iter().flat_map(|p| p.select(ctx, ix)).collect();
                all.sort_by_key(|i| (i.node().id(), i.attr_name()));
                all.dedup_by_key(|i| (i.node().id(), i.attr_name()));
                all
            }
        }
    }

    /// When the selector finds nothing with content from `ctx`: where the
    /// first path stopped. `None` when it does find something.
    pub fn missing<'d>(&self, ctx: Node<'d>) -> Option<Missing<'d>> {
        self.missing_in(ctx, None)
    }

    /// [`Selector::missing`] with the document's name index.
    pub fn missing_in<'d>(&self, ctx: Node<'d>, ix: Option<&Index<'d, '_>>) -> Option<Missing<'d>> {
        if self.any(ctx, ix, &mut |i| i.has_content()) {
            return None;
        }
        self.alts.first().map(|p| p.missing(ctx, ix))
    }
}

impl Path {
    /// Everything the selector finds from `ctx`, in document order.
    /// See [`Selector::any`]. Paths of child steps are walked depth first
    /// (which is document order) without building lists.
    fn any<'d>(
        &self,
        ctx: Node<'d>,
        ix: Option<&Index<'d, '_>>,
        f: &mut dyn FnMut(Item<'d>) -> bool,
    ) -> bool {
        fn walk<'d>(
            steps: &[Step],
            n: Node<'d>,
            attr: Option<&str>,
            f: &mut dyn FnMut(Item<'d>) -> bool,
        ) -> bool {
            match steps.split_first() {
                None => match attr {
                    None => f(Item::Element(n)),
                    Some(a) => n
                        .attributes()
                        .find(|x| x.name() == a && x.ns().is_empty())
                        .is_some_and(|x| f(Item::Attribute(n, x.name(), x.value()))),
                },
                Some((st, rest)) => n
                    .children()
                    .filter(|c| st.accepts(*c))
                    .any(|c| walk(rest, c, attr, f)),
            }
        }
        if self.absolute || self.steps.iter().any(|s| s.axis != Axis::Child) {
            return self.select(ctx, ix).into_iter().any(f);
        }
        walk(&self.steps, ctx, self.attr.as_deref(), f)
    }

    fn select<'d>(&self, ctx: Node<'d>, ix: Option<&Index<'d, '_>>) -> Vec<Item<'d>> {
        // `.` and `@A`: the context itself, without building a node list.
        if self.steps.is_empty() && !self.absolute {
            return match &self.attr {
                None => vec![Item::Element(ctx)],
                Some(a) => ctx
                    .attributes()
                    .find(|x| x.name() == &**a && x.ns().is_empty())
                    .map(|x| Item::Attribute(ctx, x.name(), x.value()))
                    .into_iter()
                    .collect(),
            };
        }
        let nodes = self.nodes(ctx, self.steps.len(), ix);
        match &self.attr {
            None => nodes.into_iter().map(Item::Element).collect(),
            Some(a) => nodes
                .into_iter()
                .filter_map(|n| {
                    n.attributes()
                        .find(|x| x.name() == &**a && x.ns().is_empty())
                        .map(|x| Item::Attribute(n, x.name(), x.value()))
                })
                .collect(),
        }
    }

    fn start<'d>(&self, ctx: Node<'d>) -> Node<'d> {
        if self.absolute {
            ctx.document().root()
        } else {
            ctx
        }
    }

    /// The elements after the first `upto` steps.
    fn nodes<'d>(&self, ctx: Node<'d>, upto: usize, ix: Option<&Index<'d, '_>>) -> Vec<Node<'d>> {
        let start = self.start(ctx);
        let mut cur: Vec<Node<'d>> = Vec::new();
        let mut first = true;
        for step in &self.steps[..upto] {
            let mut next = Vec::new();
            // An absolute selector's first step tests the root itself.
            if first && self.absolute && step.axis == Axis::Child {
                if step.accepts(start) {
                    next.push(start);
                }
            } else {
                let from: &[Node<'d>] = if first {
                    std::slice::from_ref(&start)
                } else {
                    &cur
                };
                for &n in from {
                    match step.axis {
                        Axis::Child => next.extend(n.children().filter(|c| step.accepts(*c))),
                        Axis::Descendant => {
                            match ix
                                .zip(step.local.as_deref())
                                .and_then(|(ix, l)| ix.descendants_named(n, l))
                            {
                                Some(found) => next.extend(found.filter(|c| step.accepts(*c))),
                                None => next
                                    .extend(n.descendants().skip(1).filter(|c| step.accepts(*c))),
                            }
                        }
                        Axis::Parent => {
                            if let Some(p) = n.parent() {
                                if !next.contains(&p) {
                                    next.push(p);
                                }
                            }
                        }
                    }
                }
            }
            first = false;
            if next.is_empty() {
                return next;
            }
            cur = next;
        }
        if first {
            vec![start]
        } else {
            cur
        }
    }

    /// Where the path stops finding anything from `ctx`.
    fn missing<'d>(&self, ctx: Node<'d>, ix: Option<&Index<'d, '_>>) -> Missing<'d> {
        let mut at = self.start(ctx);
        for k in 0..self.steps.len() {
            let found = self.nodes(ctx, k + 1, ix);
            match found.first() {
                Some(&n) => at = n,
                None => {
                    return Missing {
                        at,
                        step: self.steps[k].local.as_deref().unwrap_or("*").to_owned(),
                    }
                }
            }
        }
        Missing {
            at,
            step: match &self.attr {
                Some(a) => format!("@{a}"),
                None => String::new(),
            },
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    ns: &'a dyn Fn(&str) -> Option<NsTest>,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.s[self.i.min(self.s.len())..].starts_with(t.as_bytes()) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    fn rest_preview(&self) -> String {
        self.src
            .get(self.i..)
            .unwrap_or("")
            .chars()
            .take(20)
            .collect()
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.') || c >= 0x80
        }) {
            self.i += 1;
        }
        if self.i == start {
            return Err(format!("expected a name at character {}", start + 1));
        }
        Ok(self.src.get(start..self.i).unwrap_or("").to_owned())
    }

    fn path(&mut self) -> Result<Path, String> {
        self.ws();
        let mut sel = Path {
            absolute: false,
            steps: Vec::new(),
            attr: None,
        };
        if self.eat("@") {
            sel.attr = Some(self.name()?.into());
            return Ok(sel);
        }
        if self.peek() == Some(b'.') && self.s.get(self.i + 1) != Some(&b'.') {
            self.i += 1;
            if self.eat("/@") {
                sel.attr = Some(self.name()?.into());
            }
            return Ok(sel);
        }
        let mut axis = Axis::Child;
        if self.eat("//") {
            axis = Axis::Descendant;
        } else if self.eat("/") {
            sel.absolute = true;
        }
        loop {
            self.ws();
            if self.eat("@") {
                if sel.steps.is_empty() {
                    return Err("an attribute must follow an element step".into());
                }
                sel.attr = Some(self.name()?.into());
                break;
            }
            let step = self.step(axis)?;
            sel.steps.push(step);
            self.ws();
            if self.eat("//") {
                axis = Axis::Descendant;
            } else if self.eat("/") {
                axis = Axis::Child;
            } else {
                break;
            }
        }
        Ok(sel)
    }

    fn step(&mut self, axis: Axis) -> Result<Step, String> {
        let at = self.i + 1;
        if self.eat("..") {
            if axis != Axis::Child {
                return Err(format!("«//..» at character {at} is not supported"));
            }
            return Ok(Step {
                axis: Axis::Parent,
                ns: NsTest::Any,
                local: None,
                filters: Vec::new(),
            });
        }
        let (ns, local) = if self.eat("*") {
            if self.eat(":") {
                (NsTest::Any, self.local()?)
            } else {
                (NsTest::Any, None)
            }
        } else {
            let prefix = self.name()?;
            if !self.eat(":") {
                return Err(format!(
                    "«{prefix}» at character {at} needs a namespace prefix (po:, mh:, dm:, ov:, *:…)"
                ));
            }
            let ns = (self.ns)(&prefix)
                .ok_or_else(|| format!("the namespace prefix «{prefix}» is not known"))?;
            (ns, self.local()?)
        };
        let mut filters = Vec::new();
        loop {
            self.ws();
            if !self.eat("[") {
                break;
            }
            let mut alts = vec![self.cond()?];
            loop {
                self.ws();
                if self.eat("]") {
                    break;
                }
                if self.eat("or") {
                    alts.push(self.cond()?);
                } else {
                    return Err(format!(
                        "expected «]» or «or» at character {}, found «{}»",
                        self.i + 1,
                        self.rest_preview()
                    ));
                }
            }
            filters.push(alts);
        }
        Ok(Step {
            axis,
            ns,
            local,
            filters,
        })
    }

    fn local(&mut self) -> Result<Option<Box<str>>, String> {
        if self.eat("*") {
            Ok(None)
        } else {
            Ok(Some(self.name()?.into()))
        }
    }

    fn cond(&mut self) -> Result<Cond, String> {
        let sel = self.path()?;
        self.ws();
        if self.eat("!=") {
            return Ok(Cond::Ne(sel, self.literal()?));
        }
        if self.eat("=") {
            return Ok(Cond::Eq(sel, vec![self.literal()?]));
        }
        if self.eat("in") {
            self.ws();
            if !self.eat("(") {
                return Err("expected «(» after «in»".into());
            }
            let mut vals = vec![self.literal()?];
            loop {
                self.ws();
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return Err("expected «,» or «)» in the list after «in»".into());
                }
                vals.push(self.literal()?);
            }
            return Ok(Cond::Eq(sel, vals));
        }
        Ok(Cond::Exists(sel))
    }

    fn literal(&mut self) -> Result<String, String> {
        self.ws();
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "expected a quoted value at character {}",
                    self.i + 1
                ))
            }
        };
        self.i += 1;
        let start = self.i;
        while self.peek().is_some_and(|c| c != q) {
            self.i += 1;
        }
        if self.peek() != Some(q) {
            return Err("a quoted value is not closed".into());
        }
        let v = self.src.get(start..self.i).unwrap_or("").to_owned();
        self.i += 1;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">
  <MsgInfo><Type V="INNLEGGELSESRAPPORT" DN="x"/></MsgInfo>
  <Document><RefDoc><Content>
    <Innleggelsesrapport xmlns="http://www.kith.no/xmlstds/po/Innleggelsesrapport/2012-04-01">
      <Pasient>
        <Journaltekst><Overskriftskode V="AAI"/><Tekst>Falt hjemme</Tekst></Journaltekst>
        <Journaltekst><Overskriftskode V="8"/><Tekst> </Tekst></Journaltekst>
      </Pasient>
    </Innleggelsesrapport>
  </Content></RefDoc></Document>
</MsgHead>"#;

    fn sel(s: &str) -> Selector {
        Selector::parse(s, &builtin_prefix).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn doc() -> overgang_xml::Document {
        overgang_xml::parse(DOC.as_bytes(), &Default::default()).expect("parses")
    }

    #[test]
    fn selects_with_filters_and_attributes() {
        let d = doc();
        let root = d.root();
        let s = sel("//po:Journaltekst[po:Overskriftskode/@V = 'AAI']/po:Tekst");
        let items = s.select(root);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].value(), "Falt hjemme");
        let s = sel("//po:Journaltekst[po:Overskriftskode in ('X', '8')]/po:Tekst");
        let items = s.select(root);
        assert_eq!(items.len(), 1);
        assert!(!items[0].has_content());
        assert_eq!(
            sel("/mh:MsgHead/mh:MsgInfo/mh:Type/@V").select(root)[0].value(),
            "INNLEGGELSESRAPPORT"
        );
        assert_eq!(
            sel("/mh:MsgHead/mh:MsgInfo/mh:Type").select(root)[0].value(),
            "INNLEGGELSESRAPPORT"
        );
        assert!(
            sel("/po:MsgHead").select(root).is_empty(),
            "namespace matters"
        );
        assert_eq!(sel("//*:Journaltekst").select(root).len(), 2);
        let tekst = sel("//po:Tekst").select(root)[0].node();
        assert_eq!(sel("../../po:Journaltekst").select(tekst).len(), 2);
        assert_eq!(sel("..").select(tekst)[0].node().name(), "Journaltekst");
        assert_eq!(
            sel("//po:Nothing | //po:Tekst | //po:Journaltekst")
                .select(root)
                .len(),
            4
        );
        let m = sel("po:Pasient/po:X | //po:Y")
            .missing(root)
            .expect("missing");
        assert_eq!(m.step, "Pasient");
        assert_eq!(
            sel("//po:Journaltekst[po:Overskriftskode/@V != 'AAI']")
                .select(root)
                .len(),
            1
        );
        assert_eq!(
            sel("//po:Journaltekst[po:Overskriftskode/@V = 'Q' or po:Tekst]")
                .select(root)
                .len(),
            1
        );
    }

    /// The name index is a faster way to the same answer.
    #[test]
    fn the_index_changes_nothing() {
        let d = doc();
        let names: Vec<Box<str>> = [
            "Journaltekst",
            "Tekst",
            "Overskriftskode",
            "Pasient",
            "Nothing",
        ]
        .map(Box::from)
        .to_vec();
        let ix = Index::new(&d, &names);
        for src in [
            "//po:Journaltekst",
            "//po:Journaltekst[po:Overskriftskode/@V = 'AAI']/po:Tekst",
            "//*:Tekst",
            "//po:Nothing",
            "/mh:MsgHead//po:Pasient//po:Tekst",
            "//po:Pasient//po:Overskriftskode/@V",
        ] {
            let s = sel(src);
            for ctx in d.elements() {
                let a: Vec<u32> = s.select(ctx).iter().map(|i| i.node().id()).collect();
                let b: Vec<u32> = s
                    .select_in(ctx, Some(&ix))
                    .iter()
                    .map(|i| i.node().id())
                    .collect();
                assert_eq!(a, b, "{src} from {}", ctx.name());
            }
        }
    }

    #[test]
    fn missing_names_the_first_absent_step() {
        let d = doc();
        let root = d.root();
        let m = sel("//po:Pasient/po:Legemiddel/po:Navn")
            .missing(root)
            .expect("missing");
        assert_eq!(m.at.name(), "Pasient");
        assert_eq!(m.step, "Legemiddel");
        let m = sel("//po:Journaltekst[po:Overskriftskode/@V='8']/po:Tekst")
            .missing(root)
            .expect("empty text counts as missing");
        assert_eq!(m.at.name(), "Tekst");
        assert!(sel("//po:Journaltekst").missing(root).is_none());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = |s: &str| Selector::parse(s, &builtin_prefix).expect_err(s);
        assert!(e("Pasient").contains("needs a namespace prefix"));
        assert!(e("zz:Pasient").contains("«zz» is not known"));
        assert!(e("po:A[po:B = 'x'").contains("expected «]»"));
        assert!(e("po:A[po:B = x]").contains("quoted value"));
        assert!(e("po:A]").contains("unexpected"));
        assert!(e("po:A[po:B in ('x' 'y')]").contains("«,» or «)»"));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A rule file is operator input: no selector text makes the parser
        /// panic, and what it accepts can be run on any document.
        #[test]
        fn any_selector_text_parses_or_is_refused(src in "[a-z:/*@\\[\\]().|='!, po mhdv]{0,40}") {
            if let Ok(sel) = Selector::parse(&src, &builtin_prefix) {
                let doc = overgang_xml::parse(b"<a xmlns='http://www.kith.no/xmlstds/po/x'><b V='1'><c/></b></a>", &Default::default()).expect("parses");
                for n in doc.elements() {
                    let _ = sel.select(n);
                    let _ = sel.missing(n);
                }
            }
        }
    }
}
