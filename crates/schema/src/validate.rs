//! Runs a document against the compiled schema and produces findings.

use crate::compile::{
    Content, ElemId, Model, NameId, NsId, Process, Schema, SimpleId, Sym, TypeRef, Variety, WildId,
    NO_NS, WILD,
};
use crate::datatypes::{collapse, replace, Builtin, Ws};
use crate::SchemaSet;
use overgang_model::{Category, Finding, Severity};
use overgang_xml::{Document, Facts, Node, XSI_NS};
use std::borrow::Cow;
use std::collections::HashSet;

const NOT_YET: u32 = u32::MAX;
const UNKNOWN: u32 = u32::MAX - 1;

/// Why a value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    Type,
    Enum,
    Pattern,
}

/// Where a value sits, for the finding.
#[derive(Clone, Copy)]
enum At<'d> {
    Element(Node<'d>),
    Attribute(Node<'d>, overgang_xml::Attribute<'d>),
}

/// An element's name from the input, looked up and truncated by [`short`]
/// only when it is printed: building a finding's text is the rare path, and
/// the walk over a valid message must not even look the name up.
#[derive(Clone, Copy)]
struct Shown<'d>(Node<'d>);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&short(self.0.name()))
    }
}

pub(crate) struct Run<'s, 'd> {
    set: &'s SchemaSet,
    s: &'s Schema,
    doc: &'d Document,
    /// What each document namespace index maps to, filled on first use: the
    /// document's namespace table is small, and comparing indexes saves
    /// looking up and comparing URIs per element and attribute.
    /// Kept in place for the first [`NS_SMALL`] indexes (a message uses a
    /// few namespaces): no allocation per message.
    ns_small: [NsInfo; NS_SMALL],
    ns_cache: Vec<NsInfo>,
    /// The document's namespace index of `XSI_NS` ([`NOT_YET`] when the
    /// document does not use it): finding `xsi:` attributes is one compare.
    xsi: u32,
    /// Values found valid, by type: a direct-mapped memo of (type, value)
    /// pairs. Messages repeat values of checked types (the code system OID
    /// of every coded value, the same codes and dates), and comparing a
    /// value with the last valid one of its slot costs less than a pattern
    /// or a date check. `value_ok` depends on the type and the value alone,
    /// so the memo cannot change a verdict.
    valid: [(SimpleId, &'d str); VALID_SLOTS],
    pub findings: Vec<Finding>,
    ids: HashSet<String>,
}

use overgang_xml::short;

/// A document namespace as the schemas see it.
#[derive(Clone, Copy)]
struct NsInfo {
    /// Schema namespace id, [`UNKNOWN`] when the schemas do not know the
    /// namespace, [`NOT_YET`] when the entry is not filled.
    id: u32,
    /// The empty namespace (no namespace).
    empty: bool,
}

const NS_SMALL: usize = 16;

/// Slots of [`Run::valid`].
const VALID_SLOTS: usize = 64;

const NS_NOT_YET: NsInfo = NsInfo {
    id: NOT_YET,
    empty: false,
};

impl<'s, 'd> Run<'s, 'd> {
    pub fn new(set: &'s SchemaSet, doc: &'d Document) -> Self {
        Run {
            set,
            s: &set.schema,
            doc,
            ns_small: [NS_NOT_YET; NS_SMALL],
            ns_cache: Vec::new(),
            xsi: doc.find_namespace(XSI_NS).unwrap_or(NOT_YET),
            valid: [(NOT_YET, ""); VALID_SLOTS],
            findings: Vec::new(),
            ids: HashSet::new(),
        }
    }

    fn finding(
        &mut self,
        code: &str,
        path: String,
        (line, col): (u32, u32),
        nb: String,
        en: String,
    ) {
        self.findings.push(
            Finding::new(code, Category::Schema, Severity::Error, nb, en)
                .at(path, line, col)
                .apprec("T02"),
        );
    }

    /// Schema namespace id of a document namespace index; `None` when the
    /// schemas do not know the namespace.
    fn ns_of(&mut self, node: Node<'d>) -> Option<NsId> {
        match self.ns_info(node.ns_index()).id {
            UNKNOWN => None,
            n => Some(n),
        }
    }

    #[inline]
    fn ns_info(&mut self, idx: u32) -> NsInfo {
        let i = idx as usize;
        let hit = if i < NS_SMALL {
            self.ns_small.get(i)
        } else {
            self.ns_cache.get(i - NS_SMALL)
        };
        match hit {
            Some(n) if n.id != NOT_YET => *n,
            _ => self.ns_fill(idx),
        }
    }

    #[cold]
    fn ns_fill(&mut self, idx: u32) -> NsInfo {
        let uri = self.doc.namespace(idx);
        // The schemas know a handful of namespaces: comparing the URI with
        // each (lengths first) is cheaper than hashing it byte by byte.
        let id = if self.s.ns.len() <= 32 {
            self.s.ns.iter().position(|u| u == uri).map(|i| i as NsId)
        } else {
            self.s.ns_lookup.get(uri).copied()
        };
        let info = NsInfo {
            id: id.unwrap_or(UNKNOWN),
            empty: uri.is_empty(),
        };
        let i = idx as usize;
        if let Some(slot) = self.ns_small.get_mut(i) {
            *slot = info;
        } else {
            let i = i - NS_SMALL;
            if i >= self.ns_cache.len() {
                self.ns_cache.resize(i + 1, NS_NOT_YET);
            }
            self.ns_cache[i] = info;
        }
        info
    }

    fn ident(&mut self, node: Node<'d>) -> (Option<NsId>, Option<NameId>) {
        let ns = self.ns_of(node);
        let name = ns.and_then(|n| self.s.lookup_name(n, node.name()));
        (ns, name)
    }

    pub fn run(&mut self) {
        let root = self.doc.root();
        let (ns, name) = self.ident(root);
        match name.and_then(|n| self.s.globals.get(&n).copied()) {
            Some(decl) => self.element(root, decl, root.facts()),
            None => {
                let uri = short(root.ns());
                let n = short(root.name());
                let _ = ns;
                self.finding(
                    "SCH001",
                    format!("/{n}"),
                    root.line_col(),
                    format!("Rotelementet «{n}» (navnerom «{uri}») er ikke en kjent meldingstype"),
                    format!(
                        "The root element «{n}» (namespace «{uri}») is not a known message type"
                    ),
                );
            }
        }
    }

    /// Checks `node` (whose [`Facts`] are `f`) against declaration `decl`.
    fn element(&mut self, node: Node<'d>, decl: ElemId, f: Facts<'d>) {
        let s = self.s;
        let d = &s.elems[decl as usize];
        let name = Shown(node);
        if d.is_abstract {
            self.finding(
                "SCH015",
                self.set.path_of(node),
                node.line_col(),
                format!("Elementet «{name}» er abstrakt og kan ikke brukes direkte"),
                format!("Element «{name}» is abstract and cannot be used directly"),
            );
            return;
        }
        let mut ty = d.ty;
        let mut nil = false;
        let xsi = self.xsi;
        // No `xsi:` attribute to read without attributes or when the
        // document never uses the namespace.
        if f.has_attributes && xsi != NOT_YET {
            for a in node.attributes() {
                if a.ns_index() != xsi {
                    continue;
                }
                match a.name() {
                    "schemaLocation" | "noNamespaceSchemaLocation" => {}
                    "nil" => {
                        if !d.nillable {
                            self.finding(
                                "SCH014",
                                self.set.path_of(node),
                                a.line_col(),
                                format!("Elementet «{name}» kan ikke ha xsi:nil"),
                                format!("Element «{name}» cannot carry xsi:nil"),
                            );
                            return;
                        }
                        nil = matches!(collapse(a.value()).as_ref(), "true" | "1");
                    }
                    "type" => match self.xsi_type(ty, a.value()) {
                        Some(t) => ty = t,
                        None => {
                            let v = short(a.value());
                            self.finding(
                                "SCH014",
                                self.set.path_of(node),
                                a.line_col(),
                                format!("xsi:type «{v}» er ikke tillatt for elementet «{name}»"),
                                format!("xsi:type «{v}» is not allowed for element «{name}»"),
                            );
                            return;
                        }
                    },
                    other => {
                        let other = short(other);
                        self.finding(
                            "SCH010",
                            format!("{}/@xsi:{other}", self.set.path_of(node)),
                            a.line_col(),
                            format!("Attributtet «xsi:{other}» er ikke tillatt i «{name}»"),
                            format!("Attribute «xsi:{other}» is not allowed in «{name}»"),
                        );
                    }
                }
            }
        }
        match ty {
            TypeRef::Simple(st) => {
                if f.has_attributes {
                    for a in node.attributes() {
                        if a.ns_index() != xsi {
                            self.unknown_attribute(node, a.name(), a.line_col());
                        }
                    }
                }
                if nil {
                    self.nil_content(node);
                    return;
                }
                if !f.has_children || self.no_children(node) {
                    self.simple_value(node, st, decl, f);
                }
            }
            TypeRef::Complex(ct) => {
                let ctd = &s.complex[ct as usize];
                if f.has_attributes || ctd.required != 0 || ctd.attrs.len() > 64 {
                    self.attributes(node, ct);
                }
                if nil {
                    self.nil_content(node);
                    return;
                }
                match ctd.content {
                    Content::Empty if !f.has_children && !f.has_any_text => {}
                    Content::Empty => {
                        if let Some(c) = node.children().next() {
                            self.unexpected_child_in_leaf(node, c);
                        } else if node.has_any_text() {
                            self.finding(
                                "SCH004",
                                self.set.path_of(node),
                                node.line_col(),
                                format!("Elementet «{name}» skal ikke ha tekstinnhold (bare attributter)"),
                                format!("Element «{name}» must not have text content (attributes only)"),
                            );
                        }
                    }
                    Content::Simple(st) => {
                        if !f.has_children || self.no_children(node) {
                            self.simple_value(node, st, decl, f);
                        }
                    }
                    Content::Model { model, mixed } => {
                        // libxml2 refuses any CDATA section in element-only
                        // content, even a whitespace-only one.
                        if !mixed && (f.has_text || f.has_cdata) {
                            self.finding(
                                "SCH004",
                                self.set.path_of(node),
                                node.line_col(),
                                format!(
                                    "Elementet «{name}» skal bare inneholde elementer, ikke tekst"
                                ),
                                format!("Element «{name}» may contain elements only, not text"),
                            );
                        }
                        self.children(node, model);
                    }
                }
            }
        }
    }

    fn nil_content(&mut self, node: Node<'d>) {
        if node.has_children() || node.has_text() {
            let name = short(node.name());
            self.finding(
                "SCH014",
                self.set.path_of(node),
                node.line_col(),
                format!("Elementet «{name}» har xsi:nil, men er ikke tomt"),
                format!("Element «{name}» has xsi:nil but is not empty"),
            );
        }
    }

    /// Resolves an xsi:type value (by local name) to the declared type or a
    /// type derived from it.
    fn xsi_type(&self, declared: TypeRef, value: &str) -> Option<TypeRef> {
        let v = collapse(value);
        let local = v.rsplit(':').next().unwrap_or("");
        let s = self.s;
        match declared {
            TypeRef::Simple(st) => {
                let t = &s.simple[st as usize];
                (t.name.as_ref().map(|(_, n)| &**n) == Some(local)).then_some(declared)
            }
            TypeRef::Complex(ct) => {
                for (i, t) in s.complex.iter().enumerate() {
                    if t.name.as_ref().map(|(_, n)| &**n) != Some(local) {
                        continue;
                    }
                    let mut cur = Some(i as u32);
                    let mut guard = 0;
                    while let Some(c) = cur {
                        if c == ct {
                            return Some(TypeRef::Complex(i as u32));
                        }
                        cur = s.complex[c as usize].base;
                        guard += 1;
                        if guard > 64 {
                            break;
                        }
                    }
                }
                None
            }
        }
    }

    fn no_children(&mut self, node: Node<'d>) -> bool {
        match node.children().next() {
            Some(c) => {
                self.unexpected_child_in_leaf(node, c);
                false
            }
            None => true,
        }
    }

    fn unexpected_child_in_leaf(&mut self, node: Node<'d>, child: Node<'d>) {
        let name = short(node.name());
        let c = short(child.name());
        self.finding(
            "SCH002",
            self.set.path_of(child),
            child.line_col(),
            format!("Elementet «{c}» er ikke tillatt her: «{name}» kan ikke ha underelementer"),
            format!("Element «{c}» is not allowed here: «{name}» cannot have child elements"),
        );
    }

    fn simple_value(&mut self, node: Node<'d>, st: SimpleId, decl: ElemId, f: Facts<'d>) {
        let d = &self.s.elems[decl as usize];
        if d.fixed.is_none() && self.s.simple[st as usize].plain {
            return;
        }
        let raw: &str = if !f.has_any_text {
            let raw: &str = match (&d.fixed, &d.default) {
                (Some(f), _) => f,
                (None, Some(def)) => def,
                _ => "",
            };
            if !self.check_value(st, raw, At::Element(node)) {
                return;
            }
            raw
        } else {
            let raw = node.text();
            if !self.check_doc_value(st, raw, At::Element(node)) {
                return;
            }
            raw
        };
        if let Some(fixed) = &d.fixed {
            if !self.same_value(st, raw, fixed) {
                self.fixed_error(At::Element(node), st, raw, fixed);
            }
        }
    }

    fn unknown_attribute(&mut self, node: Node<'d>, attr: &str, pos: (u32, u32)) {
        let name = short(node.name());
        let a = short(attr);
        self.finding(
            "SCH010",
            format!("{}/@{a}", self.set.path_of(node)),
            pos,
            format!("Attributtet «{a}» er ikke tillatt i «{name}»"),
            format!("Attribute «{a}» is not allowed in «{name}»"),
        );
    }

    fn attributes(&mut self, node: Node<'d>, ct: u32) {
        let s = self.s;
        let ctd = &s.complex[ct as usize];
        let mut seen = Seen::new(ctd.attrs.len());
        let xsi = self.xsi;
        for a in node.attributes() {
            let idx = a.ns_index();
            if idx == xsi {
                continue;
            }
            // Most attributes have no namespace: index 0 of every document.
            let nsid = if idx == overgang_xml::NO_NAMESPACE {
                Some(NO_NS)
            } else {
                let info = self.ns_info(idx);
                if info.empty {
                    Some(NO_NS)
                } else {
                    match info.id {
                        UNKNOWN => None,
                        n => Some(n),
                    }
                }
            };
            // Compare names directly rather than hashing to an id: a type
            // declares a handful of attributes (see `step_by_name`).
            let local = a.name_bytes();
            let found = nsid.and_then(|n| {
                ctd.attrs
                    .iter()
                    .position(|u| u.ns == n && same_name(u.local.as_bytes(), local))
            });
            match found {
                Some(i) => {
                    seen.set(i);
                    let u = &ctd.attrs[i];
                    if u.any_value {
                        continue;
                    }
                    let at = At::Attribute(node, a);
                    if self.check_doc_value(u.ty, a.value(), at) {
                        if let Some(f) = &u.fixed {
                            if !self.same_value(u.ty, a.value(), f) {
                                self.fixed_error(at, u.ty, a.value(), f);
                            }
                        }
                    }
                }
                None => {
                    let allowed = ctd
                        .any_attr
                        .map(|w| s.wildcards[w as usize].allows(nsid))
                        .unwrap_or(false);
                    if !allowed {
                        self.unknown_attribute(node, a.name(), a.line_col());
                    }
                }
            }
        }
        if seen.may_miss(ctd.required) {
            for (i, u) in ctd.attrs.iter().enumerate() {
                if u.required && !seen.get(i) {
                    self.missing_attribute(node, u.name);
                }
            }
        }
    }

    fn missing_attribute(&mut self, node: Node<'d>, attr: NameId) {
        let name = short(node.name());
        let an = self.s.local_name(attr);
        self.finding(
            "SCH011",
            format!("{}/@{an}", self.set.path_of(node)),
            node.line_col(),
            format!("Attributtet «{an}» mangler i «{name}»"),
            format!("Attribute «{an}» is missing in «{name}»"),
        );
    }

    /// One step of a content model: the first position reachable from
    /// `state` that accepts the child. Matches on the child's local name
    /// rather than its interned name id: a content model offers one to a few
    /// candidates in each state, and comparing their names directly is
    /// cheaper than hashing the child's name to find its id. Interned names
    /// are unique per (namespace, local name), so both give the same answer.
    /// The candidates carry their namespace and local name ([`Cand`]), so
    /// a step reads no other table.
    #[inline]
    fn step_by_name<'m>(
        &self,
        m: &'m Model,
        state: usize,
        ns: Option<NsId>,
        local: &[u8],
    ) -> Option<&'m crate::compile::Cand> {
        let cands = m.cands.get(state)?;
        cands.iter().find(|c| {
            if c.ns != WILD {
                Some(c.ns) == ns && same_name(c.local.as_bytes(), local)
            } else {
                self.s
                    .wildcards
                    .get(c.id as usize)
                    .is_some_and(|w| w.allows(ns))
            }
        })
    }

    fn children(&mut self, node: Node<'d>, model: u32) {
        let s = self.s;
        let m = &s.models[model as usize];
        let mut state = 0usize;
        for child in node.children() {
            let f = child.facts();
            let ns = match self.ns_info(f.ns).id {
                UNKNOWN => None,
                n => Some(n),
            };
            match self.step_by_name(m, state, ns, f.name) {
                Some(c) => {
                    state = c.pos as usize + 1;
                    if c.ns != WILD {
                        self.element(child, c.id, f);
                    } else {
                        let name = ns.and_then(|n| s.lookup_name(n, child.name()));
                        self.wild(child, c.id, name)
                    }
                }
                None => {
                    let name = ns.and_then(|n| s.lookup_name(n, child.name()));
                    self.content_error(node, child, m, state, ns, name);
                    return;
                }
            }
        }
        if !m.finals[state] {
            self.missing(node, m, state, None);
        }
    }

    fn wild(&mut self, child: Node<'d>, w: WildId, name: Option<NameId>) {
        let s = self.s;
        let global = name.and_then(|n| s.globals.get(&n).copied());
        match (s.wildcards[w as usize].process, global) {
            (Process::Skip, _) => {}
            (_, Some(g)) => self.element(child, g, child.facts()),
            (Process::Lax, None) => self.lax(child),
            (Process::Strict, None) => {
                let n = short(child.name());
                let uri = short(child.ns());
                self.finding(
                    "SCH013",
                    self.set.path_of(child),
                    child.line_col(),
                    format!("Elementet «{n}» (navnerom «{uri}») er ikke en kjent dokumenttype her"),
                    format!("Element «{n}» (namespace «{uri}») is not a known document type here"),
                );
            }
        }
    }

    fn lax(&mut self, node: Node<'d>) {
        for c in node.children() {
            let (_, name) = self.ident(c);
            match name.and_then(|n| self.s.globals.get(&n).copied()) {
                Some(g) => self.element(c, g, c.facts()),
                None => self.lax(c),
            }
        }
    }

    fn content_error(
        &mut self,
        parent: Node<'d>,
        child: Node<'d>,
        m: &Model,
        state: usize,
        ns: Option<NsId>,
        name: Option<NameId>,
    ) {
        // Is the child acceptable further on? Then something before it is missing.
        let n_states = m.trans.len();
        let mut d = vec![u32::MAX; n_states];
        for (st, t) in m.trans.iter().enumerate() {
            if t.iter().any(|&p| self.matches(m, p as usize, ns, name)) {
                d[st] = 0;
            }
        }
        loop {
            let mut changed = false;
            for st in 0..n_states {
                for &p in &m.trans[st] {
                    let x = d[p as usize + 1];
                    if x != u32::MAX && x + 1 < d[st] {
                        d[st] = x + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if d[state] != u32::MAX {
            self.missing(parent, m, state, Some((&d, child)));
            return;
        }
        let pn = short(parent.name());
        let cn = short(child.name());
        let wrong_ns = m
            .alphabet
            .iter()
            .any(|&n| self.s.local_name(n) == child.name() && Some(n) != name);
        let (nb, en) = if wrong_ns {
            (
                format!("Elementet «{cn}» i «{pn}» har feil navnerom"),
                format!("Element «{cn}» in «{pn}» has the wrong namespace"),
            )
        } else if name.is_some_and(|n| m.alphabet.contains(&n)) {
            (
                format!("Elementet «{cn}» står feil sted eller for mange ganger i «{pn}»"),
                format!("Element «{cn}» is out of place or repeated too often in «{pn}»"),
            )
        } else {
            (
                format!("Elementet «{cn}» er ikke tillatt i «{pn}»"),
                format!("Element «{cn}» is not allowed in «{pn}»"),
            )
        };
        self.finding("SCH002", self.set.path_of(child), child.line_col(), nb, en);
    }

    fn matches(&self, m: &Model, p: usize, ns: Option<NsId>, name: Option<NameId>) -> bool {
        match m.positions[p].sym {
            Sym::Elem(_, n) => Some(n) == name,
            Sym::Any(w) => self.s.wildcards[w as usize].allows(ns),
        }
    }

    /// Reports the element(s) missing at `state`: those on the shortest way
    /// to the end of the content (or to where `towards` would fit).
    fn missing(
        &mut self,
        parent: Node<'d>,
        m: &Model,
        state: usize,
        towards: Option<(&[u32], Node<'d>)>,
    ) {
        let dist: &[u32] = match towards {
            Some((d, _)) => d,
            None => &m.dist,
        };
        let best = m.trans[state]
            .iter()
            .map(|&p| dist[p as usize + 1])
            .min()
            .unwrap_or(u32::MAX);
        let mut names: Vec<NameId> = Vec::new();
        for &p in &m.trans[state] {
            if dist[p as usize + 1] == best {
                if let Sym::Elem(_, n) = m.positions[p as usize].sym {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        let pn = short(parent.name());
        let pos = parent.line_col();
        let base = self.set.path_of(parent);
        if names.is_empty() {
            self.finding(
                "SCH003",
                base,
                pos,
                format!("Et påkrevd element mangler i «{pn}»"),
                format!("A required element is missing in «{pn}»"),
            );
            return;
        }
        let first = self.s.local_name(names[0]).to_owned();
        let path = format!("{base}/{first}");
        if names.len() == 1 {
            self.finding(
                "SCH003",
                path,
                pos,
                format!("Elementet «{first}» mangler i «{pn}»"),
                format!("Element «{first}» is missing in «{pn}»"),
            );
        } else {
            let list: Vec<String> = names
                .iter()
                .take(6)
                .map(|&n| format!("«{}»", self.s.local_name(n)))
                .collect();
            let list = list.join(", ");
            self.finding(
                "SCH003",
                path,
                pos,
                format!("Ett av elementene {list} mangler i «{pn}»"),
                format!("One of the elements {list} is missing in «{pn}»"),
            );
        }
    }

    // --- values ------------------------------------------------------------

    fn primitive(&self, st: SimpleId) -> Option<Builtin> {
        let t = &self.s.simple[st as usize];
        match t.variety {
            Variety::Atomic => Some(t.builtin),
            _ => None,
        }
    }

    fn normalize<'v>(&self, st: SimpleId, v: &'v str) -> Cow<'v, str> {
        let t = &self.s.simple[st as usize];
        match t.variety {
            Variety::Atomic => match t.builtin.whitespace() {
                Ws::Preserve | Ws::Raw => Cow::Borrowed(v),
                Ws::Replace => replace(v),
                Ws::Collapse => collapse(v),
            },
            _ => collapse(v),
        }
    }

    pub(crate) fn value_ok(s: &Schema, st: SimpleId, v: &str) -> Result<(), Bad> {
        let t = &s.simple[st as usize];
        if t.plain {
            return Ok(());
        }
        let norm: Cow<'_, str> = match &t.variety {
            Variety::Atomic => {
                let n = match t.builtin.whitespace() {
                    Ws::Preserve | Ws::Raw => Cow::Borrowed(v),
                    Ws::Replace => replace(v),
                    Ws::Collapse => collapse(v),
                };
                if !t.builtin.check(&n) {
                    return Err(Bad::Type);
                }
                n
            }
            Variety::Union(members) => {
                let n = collapse(v);
                if !members.iter().any(|&m| Self::value_ok(s, m, &n).is_ok()) {
                    return Err(Bad::Type);
                }
                n
            }
            Variety::List(item) => {
                let n = collapse(v);
                for part in n.split(' ').filter(|p| !p.is_empty()) {
                    Self::value_ok(s, *item, part)?;
                }
                n
            }
        };
        for step in &t.steps {
            if !step.enums.is_empty()
                && !step
                    .enums
                    .iter()
                    .any(|e| same_name(e.as_bytes(), norm.as_bytes()))
            {
                return Err(Bad::Enum);
            }
            if !step.patterns.is_empty() && !step.patterns.iter().any(|p| p.is_match(&norm)) {
                return Err(Bad::Pattern);
            }
        }
        Ok(())
    }

    fn same_value(&self, st: SimpleId, a: &str, b: &str) -> bool {
        self.normalize(st, a) == self.normalize(st, b)
    }

    fn describe(&self, st: SimpleId) -> (&'static str, &'static str) {
        let t = &self.s.simple[st as usize];
        if let Variety::Union(_) = t.variety {
            return ("en dato eller et tidspunkt", "a date or a date and time");
        }
        match t.builtin {
            Builtin::Boolean => (
                "en boolsk verdi (true eller false)",
                "a boolean (true or false)",
            ),
            Builtin::Date => ("en dato (ÅÅÅÅ-MM-DD)", "a date (YYYY-MM-DD)"),
            Builtin::DateTime => (
                "et tidspunkt (ÅÅÅÅ-MM-DDThh:mm:ss)",
                "a date and time (YYYY-MM-DDThh:mm:ss)",
            ),
            Builtin::Time => ("et klokkeslett (hh:mm:ss)", "a time (hh:mm:ss)"),
            Builtin::GYear => ("et årstall (ÅÅÅÅ)", "a year (YYYY)"),
            Builtin::GYearMonth => ("år og måned (ÅÅÅÅ-MM)", "a year and month (YYYY-MM)"),
            Builtin::Integer | Builtin::NonNegativeInteger | Builtin::PositiveInteger => {
                ("et heltall", "an integer")
            }
            Builtin::Decimal => ("et desimaltall", "a decimal number"),
            Builtin::Double | Builtin::Float => ("et tall", "a number"),
            Builtin::AnyUri => ("en gyldig URI", "a valid URI"),
            Builtin::Base64Binary => ("gyldig base64", "valid base64"),
            Builtin::Id | Builtin::IdRef | Builtin::NcName | Builtin::Name => {
                ("et gyldig XML-navn", "a valid XML name")
            }
            Builtin::NmToken => ("et gyldig navnesymbol", "a valid name token"),
            _ => ("en gyldig verdi", "a valid value"),
        }
    }

    fn at_parts(&self, at: At<'d>) -> (String, String, (u32, u32)) {
        match at {
            At::Element(n) => {
                let name = short(n.name());
                (format!("«{name}»"), self.set.path_of(n), n.line_col())
            }
            At::Attribute(n, attr) => {
                let a = short(attr.name());
                let name = short(n.name());
                (
                    format!("«{a}» i «{name}»"),
                    format!("{}/@{a}", self.set.path_of(n)),
                    attr.line_col(),
                )
            }
        }
    }

    fn quoted(&self, st: SimpleId, v: &str) -> Option<String> {
        let free = match self.primitive(st) {
            Some(b) => b.is_free_text(),
            None => false,
        };
        (!free).then(|| short(collapse(v).as_ref()))
    }

    /// [`Run::check_value`] for a value of the document, through the memo
    /// of valid values ([`Run::valid`]). `ID` values always take the full
    /// check: each must be unique.
    #[inline]
    fn check_doc_value(&mut self, st: SimpleId, v: &'d str, at: At<'d>) -> bool {
        let last = v.as_bytes().last().copied().unwrap_or(0) as usize;
        let slot = (st as usize)
            .wrapping_mul(31)
            .wrapping_add(v.len().wrapping_mul(7))
            .wrapping_add(last)
            % VALID_SLOTS;
        if self.valid[slot].0 == st && same_name(self.valid[slot].1.as_bytes(), v.as_bytes()) {
            return true;
        }
        let ok = self.check_value(st, v, at);
        if ok && self.primitive(st) != Some(Builtin::Id) {
            self.valid[slot] = (st, v);
        }
        ok
    }

    /// Checks a value, reports it when bad; true when fine.
    fn check_value(&mut self, st: SimpleId, v: &str, at: At<'d>) -> bool {
        if self.s.simple[st as usize].plain {
            return true;
        }
        let r = Self::value_ok(self.s, st, v);
        if r.is_ok() && self.primitive(st) == Some(Builtin::Id) {
            let id = collapse(v);
            if self.ids.contains(id.as_ref()) {
                let (what, path, pos) = self.at_parts(at);
                let what_en = what.replace(" i «", " in «");
                let id = short(&id);
                self.finding(
                    "SCH012",
                    path,
                    pos,
                    format!("ID-verdien «{id}» i {what} er brukt før i meldingen"),
                    format!("The ID value «{id}» in {what_en} is used earlier in the message"),
                );
                return false;
            }
            self.ids.insert(id.into_owned());
        }
        let Err(bad) = r else { return true };
        let (what, path, pos) = self.at_parts(at);
        let what_en = what.replace(" i «", " in «");
        let (got_nb, got_en) = self.got(st, v);
        let (code, nb, en) = match bad {
            Bad::Type => {
                let (dnb, den) = self.describe(st);
                (
                    "SCH006",
                    format!("{what} må være {dnb}{got_nb}"),
                    format!("{what_en} must be {den}{got_en}"),
                )
            }
            Bad::Enum => {
                let allowed = self.allowed_values(st);
                (
                    "SCH007",
                    format!("{what} har en verdi som ikke er tillatt{got_nb}; tillatt: {allowed}"),
                    format!(
                        "{what_en} has a value that is not allowed{got_en}; allowed: {allowed}"
                    ),
                )
            }
            Bad::Pattern => (
                "SCH008",
                format!("{what} har feil format{got_nb}"),
                format!("{what_en} has the wrong format{got_en}"),
            ),
        };
        self.finding(code, path, pos, nb, en);
        false
    }

    fn allowed_values(&self, st: SimpleId) -> String {
        let t = &self.s.simple[st as usize];
        let Some(step) = t.steps.iter().rev().find(|s| !s.enums.is_empty()) else {
            return String::new();
        };
        let mut v: Vec<String> = step.enums.iter().take(12).map(|e| e.to_string()).collect();
        if step.enums.len() > 12 {
            v.push("…".into());
        }
        v.join(", ")
    }

    /// The « (fikk «v»)» / « (got «v»)» suffixes that quote a value, when the
    /// value's type allows quoting it; empty otherwise.
    fn got(&self, st: SimpleId, v: &str) -> (String, String) {
        match self.quoted(st, v) {
            Some(g) => (format!(" (fikk «{g}»)"), format!(" (got «{g}»)")),
            None => (String::new(), String::new()),
        }
    }

    fn fixed_error(&mut self, at: At<'d>, st: SimpleId, v: &str, fixed: &str) {
        let (what, path, pos) = self.at_parts(at);
        let what_en = what.replace(" i «", " in «");
        let (got_nb, got_en) = self.got(st, v);
        let fixed = short(fixed);
        self.finding(
            "SCH009",
            path,
            pos,
            format!("{what} må ha den faste verdien «{fixed}»{got_nb}"),
            format!("{what_en} must have the fixed value «{fixed}»{got_en}"),
        );
    }
}

/// `a == b` for names and values: compared inline, eight bytes at a time
/// with the last word overlapping the one before (shorter ones as two
/// overlapping half words or bytes), without a call to `memcmp`.
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn w8(s: &[u8], at: usize) -> u64 {
        s.get(at..at + 8)
            .and_then(|x| x.try_into().ok())
            .map(u64::from_ne_bytes)
            .unwrap_or(0)
    }
    fn w4(s: &[u8], at: usize) -> u32 {
        s.get(at..at + 4)
            .and_then(|x| x.try_into().ok())
            .map(u32::from_ne_bytes)
            .unwrap_or(0)
    }
    match n {
        8.. => {
            let mut k = 0;
            while k + 8 < n {
                if w8(a, k) != w8(b, k) {
                    return false;
                }
                k += 8;
            }
            w8(a, n - 8) == w8(b, n - 8)
        }
        4.. => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        _ => a.iter().zip(b).all(|(x, y)| x == y),
    }
}

/// Which of a complex type's declared attributes an element has: a bit mask
/// for up to 64 (every real type; no allocation), a vector beyond.
enum Seen {
    Small(u64),
    Big(Vec<bool>),
}

impl Seen {
    fn new(declared: usize) -> Seen {
        if declared <= 64 {
            Seen::Small(0)
        } else {
            Seen::Big(vec![false; declared])
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Seen::Small(bits) => {
                if i < 64 {
                    *bits |= 1 << i;
                }
            }
            Seen::Big(v) => {
                if let Some(b) = v.get_mut(i) {
                    *b = true;
                }
            }
        }
    }

    fn get(&self, i: usize) -> bool {
        match self {
            Seen::Small(bits) => i < 64 && bits & (1 << i) != 0,
            Seen::Big(v) => v.get(i).copied().unwrap_or(false),
        }
    }

    /// False when every attribute in `required` (the type's bit mask of the
    /// first 64 required attributes) was seen and the type has no more.
    fn may_miss(&self, required: u64) -> bool {
        match self {
            Seen::Small(bits) => required & !bits != 0,
            Seen::Big(_) => true,
        }
    }
}

/// Resolves, for each step from the root to `node`, whether the schema
/// lets that element repeat where it stands. Steps it cannot place in the
/// schema fall back to "repeats in this document".
pub(crate) fn repeat_chain(set: &SchemaSet, node: Node<'_>) -> Vec<(String, usize, bool)> {
    let s = &set.schema;
    let mut steps = Vec::new();
    let mut cur = Some(node);
    while let Some(n) = cur {
        steps.push(n);
        cur = n.parent();
    }
    steps.reverse();
    let ident = |n: Node<'_>| -> (Option<NsId>, Option<NameId>) {
        let ns = s.ns_lookup.get(n.ns()).copied();
        (ns, ns.and_then(|x| s.lookup_name(x, n.name())))
    };
    let mut out = Vec::with_capacity(steps.len());
    let mut decl: Option<ElemId> = None;
    for (i, n) in steps.iter().enumerate() {
        let (ns, name) = ident(*n);
        let mut repeat = None;
        if i == 0 {
            decl = name.and_then(|x| s.globals.get(&x).copied());
            repeat = Some(false);
        } else if let Some(d) = decl {
            decl = None;
            let model = match s.elems[d as usize].ty {
                TypeRef::Complex(ct) => match s.complex[ct as usize].content {
                    Content::Model { model, .. } => Some(model),
                    _ => None,
                },
                TypeRef::Simple(_) => None,
            };
            if let (Some(model), Some(parent)) = (model, n.parent()) {
                let m = &s.models[model as usize];
                let mut state = 0usize;
                for c in parent.children() {
                    let (cns, cname) = ident(c);
                    let mut hit = None;
                    for &p in &m.trans[state] {
                        let ok = match m.positions[p as usize].sym {
                            Sym::Elem(_, x) => Some(x) == cname,
                            Sym::Any(w) => s.wildcards[w as usize].allows(cns),
                        };
                        if ok {
                            hit = Some(p as usize);
                            break;
                        }
                    }
                    let Some(p) = hit else { break };
                    state = p + 1;
                    if c == *n {
                        match m.positions[p].sym {
                            Sym::Elem(e, _) => {
                                decl = Some(e);
                                repeat = Some(m.positions[p].repeat);
                            }
                            Sym::Any(_) => {
                                decl = cname.and_then(|x| s.globals.get(&x).copied());
                                repeat = Some(false);
                            }
                        }
                        break;
                    }
                }
            }
        }
        let _ = ns;
        let r = repeat.unwrap_or_else(|| n.same_name_siblings() > 1);
        out.push((n.name().to_owned(), n.sibling_index(), r));
    }
    out
}

#[cfg(test)]
mod name_tests {
    use super::same_name;

    #[test]
    fn same_name_is_string_equality() {
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abce",
            "bbcd",
            "abcdefg",
            "abcdefh",
            "xbcdefg",
            "abcdefgh",
            "abcdefgi",
            "Abcdefgh",
            "abcdefghijklmno",
            "abcdefghijklmnO",
            "abcdefgHijklmno",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "Pasientlogistikk",
            "InformasjonOmPasient",
            "InformasjonOmPasienT",
            "ø",
            "øæ",
            "æø",
        ];
        for a in names {
            for b in names {
                assert_eq!(same_name(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }
}

#[cfg(test)]
mod seen_tests {
    use super::Seen;

    /// Both representations remember the same attributes, and only the mask
    /// can say "none required is missing" without looking.
    #[test]
    fn small_and_big_agree() {
        for declared in [3usize, 64, 65, 130] {
            let mut seen = Seen::new(declared);
            assert_eq!(matches!(seen, Seen::Small(_)), declared <= 64);
            for i in (0..declared).step_by(3) {
                seen.set(i);
            }
            for i in 0..declared {
                assert_eq!(seen.get(i), i % 3 == 0, "{declared}: {i}");
            }
            seen.set(declared + 5); // out of range: ignored, no panic
            if declared <= 64 {
                assert!(!seen.may_miss(0b1));
                assert!(seen.may_miss(0b11));
            } else {
                assert!(seen.may_miss(0));
            }
        }
    }
}
