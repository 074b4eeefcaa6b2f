//! Compiles parsed profiles into the tables the validator runs on: interned
//! names, element declarations, complex and simple types, and one Glushkov
//! automaton per content model (deterministic for UPA-valid schemas).

use crate::datatypes::Builtin;
use crate::profile::{Line, Profile};
use crate::regex::Regex;
use crate::SchemaError;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: names are short, and the default SipHash dominates lookups.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

pub(crate) const XS: &str = "http://www.w3.org/2001/XMLSchema";
pub(crate) const UNBOUNDED: u32 = u32::MAX;

pub(crate) type NsId = u32;
pub(crate) type NameId = u32;
pub(crate) type ElemId = u32;
pub(crate) type ComplexId = u32;
pub(crate) type SimpleId = u32;
pub(crate) type ModelId = u32;
pub(crate) type WildId = u32;

/// The empty (absent) namespace always has id 0.
pub(crate) const NO_NS: NsId = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeRef {
    Simple(SimpleId),
    Complex(ComplexId),
}

#[derive(Debug)]
pub(crate) struct ElemDecl {
    pub name: NameId,
    pub ty: TypeRef,
    pub fixed: Option<Box<str>>,
    pub default: Option<Box<str>>,
    pub nillable: bool,
    pub is_abstract: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AttrUse {
    pub name: NameId,
    /// `names[name]` spelled out, so the walk compares an attribute with
    /// the uses without a lookup.
    pub ns: NsId,
    pub local: Box<str>,
    pub ty: SimpleId,
    pub required: bool,
    pub fixed: Option<Box<str>>,
    /// Every value is valid (a plain type, no fixed value): the walk skips
    /// the value. Set once compiling is done.
    pub any_value: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Content {
    Empty,
    Simple(SimpleId),
    Model { model: ModelId, mixed: bool },
}

#[derive(Debug)]
pub(crate) struct ComplexType {
    pub name: Option<(NsId, Box<str>)>,
    pub base: Option<ComplexId>,
    pub attrs: Vec<AttrUse>,
    pub any_attr: Option<WildId>,
    pub content: Content,
    pub is_abstract: bool,
    /// Bit `i` set when `attrs[i]` is required (first 64 uses; set once
    /// compiling is done): the walk checks them all with one mask test.
    pub required: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Facets {
    pub enums: Vec<Box<str>>,
    pub patterns: Vec<Regex>,
}

#[derive(Debug, Clone)]
pub(crate) enum Variety {
    Atomic,
    Union(Vec<SimpleId>),
    List(SimpleId),
}

#[derive(Debug, Clone)]
pub(crate) struct SimpleType {
    pub variety: Variety,
    /// The primitive (for atomic types); `AnySimpleType` for unions and lists.
    pub builtin: Builtin,
    pub steps: Vec<Facets>,
    pub name: Option<(NsId, Box<str>)>,
    /// Every value is valid: an atomic type whose primitive accepts any
    /// (whitespace-processed) text, with no enumeration or pattern on the
    /// way. Set once compiling is done; the walk returns at once for these
    /// (most values in a message are `xs:string`-like).
    pub plain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Process {
    Strict,
    Lax,
    Skip,
}

#[derive(Debug, Clone)]
pub(crate) enum WildNs {
    Any,
    /// Any namespace but the target namespace and the absent one.
    Other(NsId),
    List(Vec<NsId>),
}

#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    pub ns: WildNs,
    pub process: Process,
}

impl Wildcard {
    /// `ns` is `None` for a namespace the schemas do not know.
    pub fn allows(&self, ns: Option<NsId>) -> bool {
        match &self.ns {
            WildNs::Any => true,
            WildNs::Other(t) => ns != Some(NO_NS) && ns != Some(*t),
            WildNs::List(ids) => ns.is_some_and(|n| ids.contains(&n)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Sym {
    Elem(ElemId, NameId),
    Any(WildId),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pos {
    pub sym: Sym,
    /// The particle may occur more than once here (its effective maxOccurs > 1).
    pub repeat: bool,
}

/// What a position of a content model accepts, spelled out for the walk:
/// an element's namespace and local name (no lookup in `names`), or a
/// wildcard.
#[derive(Debug)]
pub(crate) struct Cand {
    /// The position (state `pos + 1` follows it).
    pub pos: u32,
    /// The element's namespace, or [`WILD`] for a wildcard.
    pub ns: NsId,
    /// The element declaration, or the wildcard's id when `ns` is [`WILD`].
    pub id: u32,
    /// The element's local name (empty for a wildcard).
    pub local: Box<str>,
}

/// [`Cand::ns`] of a wildcard position.
pub(crate) const WILD: NsId = u32::MAX;

/// A Glushkov automaton: state 0 is the start, state `p + 1` is "just
/// matched position `p`".
#[derive(Debug)]
pub(crate) struct Model {
    pub positions: Vec<Pos>,
    pub trans: Vec<Vec<u32>>,
    /// `trans` with each position's [`Cand`], in the same order.
    pub cands: Vec<Vec<Cand>>,
    pub finals: Vec<bool>,
    /// Fewest further elements needed to reach a final state.
    pub dist: Vec<u32>,
    pub alphabet: Vec<NameId>,
}

#[derive(Debug)]
pub(crate) enum Term {
    Elem(ElemId),
    Any(WildId),
    Seq(Vec<Particle>),
    Choice(Vec<Particle>),
}

#[derive(Debug)]
pub(crate) struct Particle {
    pub min: u32,
    pub max: u32,
    pub term: Term,
}

/// Everything compiled.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub ns: Vec<String>,
    pub ns_lookup: FastMap<String, NsId>,
    pub names: Vec<(NsId, Box<str>)>,
    pub name_lookup: Vec<FastMap<Box<str>, NameId>>,
    pub elems: Vec<ElemDecl>,
    pub globals: FastMap<NameId, ElemId>,
    pub complex: Vec<ComplexType>,
    pub simple: Vec<SimpleType>,
    pub models: Vec<Model>,
    pub wildcards: Vec<Wildcard>,
}

impl Schema {
    pub fn intern_ns(&mut self, uri: &str) -> NsId {
        if let Some(&id) = self.ns_lookup.get(uri) {
            return id;
        }
        let id = self.ns.len() as NsId;
        self.ns.push(uri.to_owned());
        self.ns_lookup.insert(uri.to_owned(), id);
        self.name_lookup.push(FastMap::default());
        id
    }

    pub fn intern_name(&mut self, ns: NsId, local: &str) -> NameId {
        if let Some(&id) = self.name_lookup[ns as usize].get(local) {
            return id;
        }
        let id = self.names.len() as NameId;
        self.names.push((ns, local.into()));
        self.name_lookup[ns as usize].insert(local.into(), id);
        id
    }

    pub fn lookup_name(&self, ns: NsId, local: &str) -> Option<NameId> {
        self.name_lookup.get(ns as usize)?.get(local).copied()
    }

    pub fn local_name(&self, name: NameId) -> &str {
        self.names
            .get(name as usize)
            .map(|(_, l)| &**l)
            .unwrap_or("")
    }
}

// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Element,
    Complex,
    Simple,
    Attribute,
    AttributeGroup,
    Group,
}

/// Where a global declaration lives: profile index and declaration index.
type Loc = (usize, usize);

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Todo,
    Busy,
    Done,
}

/// Intermediate form of a complex type before its automaton is built.
#[derive(Clone)]
struct Parts {
    particle: Option<std::rc::Rc<Particle>>,
    attrs: Vec<AttrUse>,
    any_attr: Option<WildId>,
    mixed: bool,
    simple: Option<SimpleId>,
}

pub(crate) struct Compiler<'p> {
    profiles: &'p [Profile],
    decls: HashMap<(Kind, String, String), Loc>,
    s: Schema,
    global_elem_ids: HashMap<(String, String), ElemId>,
    complex_ids: HashMap<(String, String), ComplexId>,
    complex_state: Vec<State>,
    complex_parts: Vec<Option<Parts>>,
    simple_ids: HashMap<(String, String), SimpleId>,
    simple_state: Vec<State>,
    builtin_ids: HashMap<String, SimpleId>,
    any_type: Option<ComplexId>,
    positions_budget: usize,
}

fn kind_of(kw: &str) -> Option<Kind> {
    Some(match kw {
        "element" => Kind::Element,
        "complex" => Kind::Complex,
        "simple" => Kind::Simple,
        "attribute" => Kind::Attribute,
        "attribute-group" => Kind::AttributeGroup,
        "group" => Kind::Group,
        _ => return None,
    })
}

impl<'p> Compiler<'p> {
    pub fn new(profiles: &'p [Profile]) -> Result<Self, SchemaError> {
        let mut c = Compiler {
            profiles,
            decls: HashMap::new(),
            s: Schema::default(),
            global_elem_ids: HashMap::new(),
            complex_ids: HashMap::new(),
            complex_state: Vec::new(),
            complex_parts: Vec::new(),
            simple_ids: HashMap::new(),
            simple_state: Vec::new(),
            builtin_ids: HashMap::new(),
            any_type: None,
            positions_budget: 200_000,
        };
        c.s.intern_ns("");
        for (pi, p) in profiles.iter().enumerate() {
            c.s.intern_ns(&p.target);
            for (di, d) in p.decls.iter().enumerate() {
                let kind = kind_of(&d.kw)
                    .ok_or_else(|| p.err(d.line, format!("unknown declaration {}", d.kw)))?;
                let name = d
                    .name()
                    .ok_or_else(|| p.err(d.line, "declaration without a name"))?;
                let key = (kind, p.target.clone(), name.to_owned());
                if c.decls.insert(key, (pi, di)).is_some() {
                    return Err(p.err(d.line, format!("{name} is declared twice")));
                }
            }
        }
        Ok(c)
    }

    fn err(&self, pi: usize, line: u32, m: impl Into<String>) -> SchemaError {
        self.profiles[pi].err(line, m)
    }

    pub fn run(mut self) -> Result<Schema, SchemaError> {
        // Pre-assign ids to global elements and named types so references
        // (including recursive ones) resolve before bodies are compiled.
        let mut keys: Vec<_> = self.decls.iter().map(|(k, v)| (k.clone(), *v)).collect();
        keys.sort_by_key(|(_, loc)| *loc);
        for ((kind, ns, name), _) in &keys {
            match kind {
                Kind::Element => {
                    let nsid = self.s.intern_ns(ns);
                    let nid = self.s.intern_name(nsid, name);
                    let id = self.s.elems.len() as ElemId;
                    self.s.elems.push(ElemDecl {
                        name: nid,
                        ty: TypeRef::Simple(0),
                        fixed: None,
                        default: None,
                        nillable: false,
                        is_abstract: false,
                    });
                    self.s.globals.insert(nid, id);
                    self.global_elem_ids.insert((ns.clone(), name.clone()), id);
                }
                Kind::Complex => {
                    let id = self.new_complex();
                    self.complex_ids.insert((ns.clone(), name.clone()), id);
                }
                Kind::Simple => {
                    let id = self.s.simple.len() as SimpleId;
                    self.s.simple.push(SimpleType {
                        variety: Variety::Atomic,
                        builtin: Builtin::AnySimpleType,
                        steps: Vec::new(),
                        name: None,
                        plain: false,
                    });
                    self.simple_state.push(State::Todo);
                    self.simple_ids.insert((ns.clone(), name.clone()), id);
                }
                _ => {}
            }
        }
        for ((kind, ns, name), (pi, di)) in &keys {
            match kind {
                Kind::Simple => {
                    let id = self.simple_ids[&(ns.clone(), name.clone())];
                    self.compile_named_simple(id, *pi, *di)?;
                }
                Kind::Complex => {
                    let id = self.complex_ids[&(ns.clone(), name.clone())];
                    self.compile_named_complex(id, *pi, *di)?;
                }
                _ => {}
            }
        }
        for ((kind, ns, name), (pi, di)) in &keys {
            if *kind == Kind::Element {
                let id = self.global_elem_ids[&(ns.clone(), name.clone())];
                let line = &self.profiles[*pi].decls[*di];
                self.fill_element(id, *pi, line)?;
            }
        }
        for t in &mut self.s.complex {
            t.required = t
                .attrs
                .iter()
                .take(64)
                .enumerate()
                .filter(|(_, u)| u.required)
                .fold(0, |m, (i, _)| m | 1 << i);
        }
        for t in &mut self.s.simple {
            t.plain = matches!(t.variety, Variety::Atomic)
                && t.builtin.accepts_any_text()
                && t.steps
                    .iter()
                    .all(|f| f.enums.is_empty() && f.patterns.is_empty());
        }
        let simple = &self.s.simple;
        for t in &mut self.s.complex {
            for u in &mut t.attrs {
                u.any_value =
                    u.fixed.is_none() && simple.get(u.ty as usize).is_some_and(|st| st.plain);
            }
        }
        Ok(self.s)
    }

    fn new_complex(&mut self) -> ComplexId {
        let id = self.s.complex.len() as ComplexId;
        self.s.complex.push(ComplexType {
            name: None,
            base: None,
            attrs: Vec::new(),
            any_attr: None,
            content: Content::Empty,
            is_abstract: false,
            required: 0,
        });
        self.complex_state.push(State::Todo);
        self.complex_parts.push(None);
        id
    }

    // --- simple types ------------------------------------------------------

    fn builtin(&mut self, local: &str, pi: usize, line: u32) -> Result<SimpleId, SchemaError> {
        let b = Builtin::from_name(local)
            .ok_or_else(|| self.err(pi, line, format!("unsupported built-in type xs:{local}")))?;
        let key = local.to_owned();
        if let Some(&id) = self.builtin_ids.get(&key) {
            return Ok(id);
        }
        let id = self.s.simple.len() as SimpleId;
        let xs = self.s.intern_ns(XS);
        self.s.simple.push(SimpleType {
            variety: Variety::Atomic,
            builtin: b,
            steps: Vec::new(),
            name: Some((xs, local.into())),
            plain: false,
        });
        self.simple_state.push(State::Done);
        self.builtin_ids.insert(key, id);
        Ok(id)
    }

    fn resolve_type(&mut self, pi: usize, qname: &str, line: u32) -> Result<TypeRef, SchemaError> {
        let (ns, local) = self.profiles[pi].resolve(qname, line)?;
        if ns == XS {
            if local == "anyType" {
                return Ok(TypeRef::Complex(self.any_type()?));
            }
            return Ok(TypeRef::Simple(self.builtin(&local, pi, line)?));
        }
        if let Some(&id) = self.complex_ids.get(&(ns.clone(), local.clone())) {
            return Ok(TypeRef::Complex(id));
        }
        if let Some(&id) = self.simple_ids.get(&(ns, local)) {
            return Ok(TypeRef::Simple(id));
        }
        Err(self.err(pi, line, format!("unknown type {qname}")))
    }

    fn resolve_simple(
        &mut self,
        pi: usize,
        qname: &str,
        line: u32,
    ) -> Result<SimpleId, SchemaError> {
        match self.resolve_type(pi, qname, line)? {
            TypeRef::Simple(id) => {
                self.ensure_simple(id)?;
                Ok(id)
            }
            TypeRef::Complex(_) => Err(self.err(pi, line, format!("{qname} is not a simple type"))),
        }
    }

    fn ensure_simple(&mut self, id: SimpleId) -> Result<(), SchemaError> {
        if self.simple_state[id as usize] == State::Done {
            return Ok(());
        }
        let found = self
            .simple_ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone());
        let Some(key) = found else { return Ok(()) };
        let loc = self.decls.get(&(Kind::Simple, key.0, key.1)).copied();
        if let Some((pi, di)) = loc {
            self.compile_named_simple(id, pi, di)?;
        }
        Ok(())
    }

    fn compile_named_simple(
        &mut self,
        id: SimpleId,
        pi: usize,
        di: usize,
    ) -> Result<(), SchemaError> {
        match self.simple_state[id as usize] {
            State::Done => return Ok(()),
            State::Busy => {
                let line = self.profiles[pi].decls[di].line;
                return Err(self.err(pi, line, "circular simple type"));
            }
            State::Todo => {}
        }
        self.simple_state[id as usize] = State::Busy;
        let line = &self.profiles[pi].decls[di];
        let mut st = self.simple_body(pi, &line.children, line.line)?;
        let nsid = self.s.intern_ns(&self.profiles[pi].target);
        st.name = line.name().map(|n| (nsid, n.into()));
        self.s.simple[id as usize] = st;
        self.simple_state[id as usize] = State::Done;
        Ok(())
    }

    fn anon_simple(
        &mut self,
        pi: usize,
        body: &[Line],
        line: u32,
    ) -> Result<SimpleId, SchemaError> {
        let st = self.simple_body(pi, body, line)?;
        let id = self.s.simple.len() as SimpleId;
        self.s.simple.push(st);
        self.simple_state.push(State::Done);
        Ok(id)
    }

    fn simple_body(
        &mut self,
        pi: usize,
        body: &[Line],
        line: u32,
    ) -> Result<SimpleType, SchemaError> {
        let mut result: Option<SimpleType> = None;
        let mut facets = Facets {
            enums: Vec::new(),
            patterns: Vec::new(),
        };
        for l in body {
            match l.kw.as_str() {
                "restricts" => {
                    let base = l
                        .name()
                        .ok_or_else(|| self.err(pi, l.line, "restricts needs a base"))?;
                    let id = self.resolve_simple(pi, base, l.line)?;
                    let mut st = self.s.simple[id as usize].clone();
                    st.name = None;
                    result = Some(st);
                }
                "union" => {
                    let mut members = Vec::new();
                    for m in &l.words {
                        members.push(self.resolve_simple(pi, m, l.line)?);
                    }
                    result = Some(SimpleType {
                        variety: Variety::Union(members),
                        builtin: Builtin::AnySimpleType,
                        steps: Vec::new(),
                        name: None,
                        plain: false,
                    });
                }
                "list" => {
                    let item = l
                        .name()
                        .ok_or_else(|| self.err(pi, l.line, "list needs an item type"))?;
                    let id = self.resolve_simple(pi, item, l.line)?;
                    result = Some(SimpleType {
                        variety: Variety::List(id),
                        builtin: Builtin::AnySimpleType,
                        steps: Vec::new(),
                        name: None,
                        plain: false,
                    });
                }
                "enum" => facets.enums.push(l.rest.as_str().into()),
                "pattern" => facets.patterns.push(
                    Regex::new(&l.rest)
                        .map_err(|m| self.err(pi, l.line, format!("pattern: {m}")))?,
                ),
                other => {
                    return Err(self.err(pi, l.line, format!("unsupported facet or item {other}")))
                }
            }
        }
        let mut st = result.ok_or_else(|| self.err(pi, line, "simple type without a base"))?;
        if !facets.enums.is_empty() || !facets.patterns.is_empty() {
            st.steps.push(facets);
        }
        Ok(st)
    }

    // --- complex types -----------------------------------------------------

    fn any_type(&mut self) -> Result<ComplexId, SchemaError> {
        if let Some(id) = self.any_type {
            return Ok(id);
        }
        let id = self.new_complex();
        self.any_type = Some(id);
        let w = self.s.wildcards.len() as WildId;
        self.s.wildcards.push(Wildcard {
            ns: WildNs::Any,
            process: Process::Lax,
        });
        let particle = Particle {
            min: 0,
            max: UNBOUNDED,
            term: Term::Any(w),
        };
        let model = self.build_model(&particle)?;
        let xs = self.s.intern_ns(XS);
        let ct = &mut self.s.complex[id as usize];
        ct.name = Some((xs, "anyType".into()));
        ct.any_attr = Some(w);
        ct.content = Content::Model { model, mixed: true };
        self.complex_state[id as usize] = State::Done;
        self.complex_parts[id as usize] = Some(Parts {
            particle: None,
            attrs: Vec::new(),
            any_attr: Some(w),
            mixed: true,
            simple: None,
        });
        Ok(id)
    }

    fn compile_named_complex(
        &mut self,
        id: ComplexId,
        pi: usize,
        di: usize,
    ) -> Result<(), SchemaError> {
        match self.complex_state[id as usize] {
            State::Done => return Ok(()),
            State::Busy => {
                let line = self.profiles[pi].decls[di].line;
                return Err(self.err(pi, line, "circular type derivation"));
            }
            State::Todo => {}
        }
        self.complex_state[id as usize] = State::Busy;
        let line = &self.profiles[pi].decls[di];
        let nsid = self.s.intern_ns(&self.profiles[pi].target);
        let name = line.name().map(|n| (nsid, n.into()));
        self.complex_into(id, pi, line)?;
        self.s.complex[id as usize].name = name;
        self.complex_state[id as usize] = State::Done;
        Ok(())
    }

    /// Compiles the body under `line` (a `complex` declaration or an element
    /// with an anonymous complex type) into complex type `id`.
    fn complex_into(&mut self, id: ComplexId, pi: usize, line: &Line) -> Result<(), SchemaError> {
        let (parts, base) = self.complex_parts_of(pi, line)?;
        let content = if let Some(st) = parts.simple {
            Content::Simple(st)
        } else {
            match &parts.particle {
                None if !parts.mixed => Content::Empty,
                None => Content::Model {
                    model: self.build_model(&Particle {
                        min: 1,
                        max: 1,
                        term: Term::Seq(Vec::new()),
                    })?,
                    mixed: true,
                },
                Some(p) => {
                    let model = self.build_model(p)?;
                    if self.s.models[model as usize].positions.is_empty() && !parts.mixed {
                        Content::Empty
                    } else {
                        Content::Model {
                            model,
                            mixed: parts.mixed,
                        }
                    }
                }
            }
        };
        let ct = &mut self.s.complex[id as usize];
        ct.attrs = parts.attrs.clone();
        ct.any_attr = parts.any_attr;
        ct.content = content;
        ct.base = base;
        ct.is_abstract = line.has("abstract");
        self.complex_parts[id as usize] = Some(parts);
        Ok(())
    }

    fn parts_of_complex(&mut self, id: ComplexId) -> Result<Parts, SchemaError> {
        if self.complex_state[id as usize] == State::Todo {
            let found = self
                .complex_ids
                .iter()
                .find(|(_, v)| **v == id)
                .map(|(k, _)| k.clone());
            if let Some(key) = found {
                if let Some(&(pi, di)) = self.decls.get(&(Kind::Complex, key.0, key.1)) {
                    self.compile_named_complex(id, pi, di)?;
                }
            }
        }
        self.complex_parts[id as usize]
            .clone()
            .ok_or_else(|| SchemaError::Profile {
                file: String::new(),
                line: 0,
                message: "circular type derivation".into(),
            })
    }

    fn complex_parts_of(
        &mut self,
        pi: usize,
        line: &Line,
    ) -> Result<(Parts, Option<ComplexId>), SchemaError> {
        let mut parts = Parts {
            particle: None,
            attrs: Vec::new(),
            any_attr: None,
            mixed: line.has("mixed"),
            simple: None,
        };
        let mut base_id = None;
        let mut own_particle: Option<Particle> = None;
        let mut extension_base: Option<Parts> = None;
        for l in &line.children {
            match l.kw.as_str() {
                "extends" | "restricts" => {
                    let q = l
                        .name()
                        .ok_or_else(|| self.err(pi, l.line, "needs a base type"))?;
                    let TypeRef::Complex(b) = self.resolve_type(pi, q, l.line)? else {
                        return Err(self.err(pi, l.line, "complex content needs a complex base"));
                    };
                    base_id = Some(b);
                    let bp = self.parts_of_complex(b)?;
                    if l.kw == "extends" {
                        parts.attrs = bp.attrs.clone();
                        parts.any_attr = bp.any_attr;
                        if bp.simple.is_some() {
                            parts.simple = bp.simple;
                        }
                        extension_base = Some(bp);
                    } else if Some(b) != self.any_type {
                        parts.attrs = bp.attrs.clone();
                    }
                }
                "simple-extends" => {
                    let q = l
                        .name()
                        .ok_or_else(|| self.err(pi, l.line, "needs a base type"))?;
                    match self.resolve_type(pi, q, l.line)? {
                        TypeRef::Simple(s) => {
                            self.ensure_simple(s)?;
                            parts.simple = Some(s);
                        }
                        TypeRef::Complex(b) => {
                            base_id = Some(b);
                            let bp = self.parts_of_complex(b)?;
                            if bp.simple.is_none() {
                                return Err(self.err(
                                    pi,
                                    l.line,
                                    "simple content needs a simple base",
                                ));
                            }
                            parts.simple = bp.simple;
                            parts.attrs = bp.attrs;
                            parts.any_attr = bp.any_attr;
                        }
                    }
                }
                "sequence" | "choice" | "all" | "element" | "ref" | "any" | "group-ref" => {
                    if own_particle.is_some() {
                        return Err(self.err(pi, l.line, "more than one top-level particle"));
                    }
                    own_particle = Some(self.particle(pi, l)?);
                }
                "attribute" | "attribute-ref" | "attribute-group-ref" | "any-attribute" => {
                    self.attr_item(pi, l, &mut parts)?;
                }
                other => {
                    return Err(self.err(
                        pi,
                        l.line,
                        format!("unexpected {other} in a complex type"),
                    ))
                }
            }
        }
        let own = own_particle.map(std::rc::Rc::new);
        parts.particle = match (extension_base.and_then(|b| b.particle), own) {
            (None, o) => o,
            (Some(b), None) => Some(b),
            (Some(b), Some(o)) => {
                // Share by re-expressing as a sequence of the two.
                let b = std::rc::Rc::try_unwrap(b).unwrap_or_else(|rc| clone_particle(&rc));
                let o = std::rc::Rc::try_unwrap(o).unwrap_or_else(|rc| clone_particle(&rc));
                Some(std::rc::Rc::new(Particle {
                    min: 1,
                    max: 1,
                    term: Term::Seq(vec![b, o]),
                }))
            }
        };
        Ok((parts, base_id))
    }

    fn attr_item(&mut self, pi: usize, l: &Line, parts: &mut Parts) -> Result<(), SchemaError> {
        let p = &self.profiles[pi];
        match l.kw.as_str() {
            "attribute" => {
                let name = l
                    .name()
                    .ok_or_else(|| p.err(l.line, "attribute without a name"))?;
                let ns = if l.has("qualified") {
                    p.target.clone()
                } else {
                    String::new()
                };
                let nsid = self.s.intern_ns(&ns);
                let nid = self.s.intern_name(nsid, name);
                if l.has("prohibited") {
                    parts.attrs.retain(|a| a.name != nid);
                    return Ok(());
                }
                let ty = self.attr_type(pi, l)?;
                let use_ = AttrUse {
                    name: nid,
                    ns: nsid,
                    local: name.into(),
                    ty,
                    required: l.has("required"),
                    fixed: l.get("fixed").map(Into::into),
                    any_value: false,
                };
                push_attr(&mut parts.attrs, use_);
            }
            "attribute-ref" => {
                let q = l
                    .name()
                    .ok_or_else(|| p.err(l.line, "attribute-ref needs a name"))?;
                let (ns, local) = p.resolve(q, l.line)?;
                let (gpi, gdi) = *self
                    .decls
                    .get(&(Kind::Attribute, ns.clone(), local.clone()))
                    .ok_or_else(|| p.err(l.line, format!("unknown attribute {q}")))?;
                let g = &self.profiles[gpi].decls[gdi];
                let nsid = self.s.intern_ns(&ns);
                let nid = self.s.intern_name(nsid, &local);
                if l.has("prohibited") {
                    parts.attrs.retain(|a| a.name != nid);
                    return Ok(());
                }
                let ty = self.attr_type(gpi, g)?;
                // libxml2 (our reference) ignores a fixed value placed on the
                // use of a referenced attribute; only the declaration's counts.
                let fixed = g.get("fixed").map(Into::into);
                push_attr(
                    &mut parts.attrs,
                    AttrUse {
                        name: nid,
                        ns: nsid,
                        local: local.as_str().into(),
                        ty,
                        required: l.has("required"),
                        fixed,
                        any_value: false,
                    },
                );
            }
            "attribute-group-ref" => {
                let q = l
                    .name()
                    .ok_or_else(|| p.err(l.line, "attribute-group-ref needs a name"))?;
                let (ns, local) = p.resolve(q, l.line)?;
                let (gpi, gdi) = *self
                    .decls
                    .get(&(Kind::AttributeGroup, ns, local))
                    .ok_or_else(|| p.err(l.line, format!("unknown attribute group {q}")))?;
                let children = &self.profiles[gpi].decls[gdi].children;
                for c in children {
                    self.attr_item(gpi, c, parts)?;
                }
            }
            "any-attribute" => {
                let w = self.wildcard(pi, l)?;
                parts.any_attr = Some(w);
            }
            other => return Err(p.err(l.line, format!("unexpected {other}"))),
        }
        Ok(())
    }

    fn attr_type(&mut self, pi: usize, l: &Line) -> Result<SimpleId, SchemaError> {
        if let Some(t) = l.get("type") {
            self.resolve_simple(pi, t, l.line)
        } else if l.has("simple") {
            self.anon_simple(pi, &l.children, l.line)
        } else {
            self.builtin("anySimpleType", pi, l.line)
        }
    }

    fn wildcard(&mut self, pi: usize, l: &Line) -> Result<WildId, SchemaError> {
        let p = &self.profiles[pi];
        let process = match l.get("process").unwrap_or("strict") {
            "strict" => Process::Strict,
            "lax" => Process::Lax,
            "skip" => Process::Skip,
            other => return Err(p.err(l.line, format!("unknown process {other}"))),
        };
        let spec = l.get("namespace").unwrap_or("##any");
        let target = p.target.clone();
        let ns = match spec {
            "##any" => WildNs::Any,
            "##other" => WildNs::Other(self.s.intern_ns(&target)),
            list => {
                let mut ids = Vec::new();
                for item in list.split(',') {
                    let uri = match item {
                        "##targetNamespace" => target.clone(),
                        "##local" => String::new(),
                        u => u.to_owned(),
                    };
                    ids.push(self.s.intern_ns(&uri));
                }
                WildNs::List(ids)
            }
        };
        let id = self.s.wildcards.len() as WildId;
        self.s.wildcards.push(Wildcard { ns, process });
        Ok(id)
    }

    // --- particles and elements -------------------------------------------

    fn particle(&mut self, pi: usize, l: &Line) -> Result<Particle, SchemaError> {
        let (min, max) = l.card().map_err(|m| self.err(pi, l.line, m))?;
        let term = match l.kw.as_str() {
            "sequence" | "choice" => {
                let mut items = Vec::new();
                for c in &l.children {
                    items.push(self.particle(pi, c)?);
                }
                if l.kw == "sequence" {
                    Term::Seq(items)
                } else {
                    Term::Choice(items)
                }
            }
            "all" => return Err(self.err(pi, l.line, "xs:all is not supported")),
            "ref" => {
                let q = l
                    .name()
                    .ok_or_else(|| self.err(pi, l.line, "ref needs a name"))?;
                let key = self.profiles[pi].resolve(q, l.line)?;
                let id = *self
                    .global_elem_ids
                    .get(&key)
                    .ok_or_else(|| self.err(pi, l.line, format!("unknown element {q}")))?;
                Term::Elem(id)
            }
            "element" => Term::Elem(self.local_element(pi, l)?),
            "any" => Term::Any(self.wildcard(pi, l)?),
            "group-ref" => {
                let q = l
                    .name()
                    .ok_or_else(|| self.err(pi, l.line, "group-ref needs a name"))?;
                let (ns, local) = self.profiles[pi].resolve(q, l.line)?;
                let (gpi, gdi) = *self
                    .decls
                    .get(&(Kind::Group, ns, local))
                    .ok_or_else(|| self.err(pi, l.line, format!("unknown group {q}")))?;
                let g = &self.profiles[gpi].decls[gdi];
                let inner = g
                    .children
                    .first()
                    .ok_or_else(|| self.err(gpi, g.line, "empty group"))?;
                let p = self.particle(gpi, inner)?;
                Term::Seq(vec![p])
            }
            other => {
                return Err(self.err(pi, l.line, format!("unexpected {other} in a content model")))
            }
        };
        Ok(Particle { min, max, term })
    }

    fn local_element(&mut self, pi: usize, l: &Line) -> Result<ElemId, SchemaError> {
        let name = l
            .name()
            .ok_or_else(|| self.err(pi, l.line, "element without a name"))?;
        let ns = if l.has("unqualified") {
            String::new()
        } else {
            self.profiles[pi].target.clone()
        };
        let nsid = self.s.intern_ns(&ns);
        let nid = self.s.intern_name(nsid, name);
        let id = self.s.elems.len() as ElemId;
        self.s.elems.push(ElemDecl {
            name: nid,
            ty: TypeRef::Simple(0),
            fixed: None,
            default: None,
            nillable: false,
            is_abstract: false,
        });
        self.fill_element(id, pi, l)?;
        Ok(id)
    }

    fn fill_element(&mut self, id: ElemId, pi: usize, l: &Line) -> Result<(), SchemaError> {
        let ty = if let Some(t) = l.get("type") {
            let r = self.resolve_type(pi, t, l.line)?;
            if let TypeRef::Simple(s) = r {
                self.ensure_simple(s)?;
            }
            r
        } else if l.has("complex") {
            let cid = self.new_complex();
            self.complex_state[cid as usize] = State::Busy;
            self.complex_into(cid, pi, l)?;
            self.complex_state[cid as usize] = State::Done;
            TypeRef::Complex(cid)
        } else if l.has("simple") {
            TypeRef::Simple(self.anon_simple(pi, &l.children, l.line)?)
        } else {
            TypeRef::Complex(self.any_type()?)
        };
        let e = &mut self.s.elems[id as usize];
        e.ty = ty;
        e.fixed = l.get("fixed").map(Into::into);
        e.default = l.get("default").map(Into::into);
        e.nillable = l.has("nillable");
        e.is_abstract = l.has("abstract");
        Ok(())
    }

    // --- automata ----------------------------------------------------------

    fn build_model(&mut self, p: &Particle) -> Result<ModelId, SchemaError> {
        let mut positions = Vec::new();
        let re = self.expand(p, false, &mut positions)?;
        let n = positions.len();
        let mut follow: Vec<Vec<u32>> = vec![Vec::new(); n];
        let (nullable, first, last) = glushkov(&re, &mut follow);
        let mut trans = Vec::with_capacity(n + 1);
        trans.push(first);
        trans.extend(follow);
        // Exact element matches before wildcards.
        for t in &mut trans {
            t.sort_by_key(|&p| (matches!(positions[p as usize].sym, Sym::Any(_)), p));
        }
        let mut finals = vec![false; n + 1];
        finals[0] = nullable;
        for &p in &last {
            finals[p as usize + 1] = true;
        }
        // Fewest elements to a final state (Bellman-Ford over small graphs).
        let mut dist: Vec<u32> = finals
            .iter()
            .map(|&f| if f { 0 } else { u32::MAX })
            .collect();
        loop {
            let mut changed = false;
            for s in 0..=n {
                for &p in &trans[s] {
                    let d = dist[p as usize + 1];
                    if d != u32::MAX && d + 1 < dist[s] {
                        dist[s] = d + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut alphabet: Vec<NameId> = positions
            .iter()
            .filter_map(|p| match p.sym {
                Sym::Elem(_, n) => Some(n),
                Sym::Any(_) => None,
            })
            .collect();
        alphabet.sort_unstable();
        alphabet.dedup();
        let cands = trans
            .iter()
            .map(|t| {
                t.iter()
                    .map(|&p| match positions[p as usize].sym {
                        Sym::Elem(e, n) => {
                            let (ns, local) = self.s.names[n as usize].clone();
                            Cand {
                                pos: p,
                                ns,
                                id: e,
                                local,
                            }
                        }
                        Sym::Any(w) => Cand {
                            pos: p,
                            ns: WILD,
                            id: w,
                            local: "".into(),
                        },
                    })
                    .collect()
            })
            .collect();
        let id = self.s.models.len() as ModelId;
        self.s.models.push(Model {
            positions,
            trans,
            cands,
            finals,
            dist,
            alphabet,
        });
        Ok(id)
    }

    fn expand(
        &mut self,
        p: &Particle,
        rep: bool,
        positions: &mut Vec<Pos>,
    ) -> Result<Re, SchemaError> {
        let rep = rep || p.max > 1;
        if p.max == 0 {
            return Ok(Re::Eps);
        }
        let copies_needed = p.min as usize
            + if p.max == UNBOUNDED {
                1
            } else {
                (p.max - p.min) as usize
            };
        if copies_needed > 1000 || positions.len() > self.positions_budget {
            return Err(SchemaError::Profile {
                file: String::new(),
                line: 0,
                message: "content model too large".into(),
            });
        }
        let mut parts = Vec::new();
        for _ in 0..p.min {
            parts.push(self.body(&p.term, rep, positions)?);
        }
        if p.max == UNBOUNDED {
            let b = self.body(&p.term, rep, positions)?;
            parts.push(Re::Star(Box::new(b)));
        } else if p.max > p.min {
            let mut bodies = Vec::new();
            for _ in p.min..p.max {
                bodies.push(self.body(&p.term, rep, positions)?);
            }
            let mut tail: Option<Re> = None;
            while let Some(b) = bodies.pop() {
                tail = Some(Re::Opt(Box::new(match tail {
                    None => b,
                    Some(t) => Re::Cat(vec![b, t]),
                })));
            }
            if let Some(t) = tail {
                parts.push(t);
            }
        }
        Ok(match parts.len() {
            0 => Re::Eps,
            1 => parts.pop().unwrap_or(Re::Eps),
            _ => Re::Cat(parts),
        })
    }

    fn body(&mut self, t: &Term, rep: bool, positions: &mut Vec<Pos>) -> Result<Re, SchemaError> {
        Ok(match t {
            Term::Elem(e) => {
                let name = self.s.elems[*e as usize].name;
                positions.push(Pos {
                    sym: Sym::Elem(*e, name),
                    repeat: rep,
                });
                Re::Pos(positions.len() as u32 - 1)
            }
            Term::Any(w) => {
                positions.push(Pos {
                    sym: Sym::Any(*w),
                    repeat: rep,
                });
                Re::Pos(positions.len() as u32 - 1)
            }
            Term::Seq(items) => {
                let mut v = Vec::new();
                for i in items {
                    v.push(self.expand(i, rep, positions)?);
                }
                Re::Cat(v)
            }
            Term::Choice(items) => {
                let mut v = Vec::new();
                for i in items {
                    v.push(self.expand(i, rep, positions)?);
                }
                if v.is_empty() {
                    // An empty choice matches nothing.
                    Re::Alt(Vec::new())
                } else {
                    Re::Alt(v)
                }
            }
        })
    }
}

fn push_attr(attrs: &mut Vec<AttrUse>, a: AttrUse) {
    if let Some(existing) = attrs.iter_mut().find(|x| x.name == a.name) {
        *existing = a;
    } else {
        attrs.push(a);
    }
}

fn clone_particle(p: &Particle) -> Particle {
    Particle {
        min: p.min,
        max: p.max,
        term: match &p.term {
            Term::Elem(e) => Term::Elem(*e),
            Term::Any(w) => Term::Any(*w),
            Term::Seq(v) => Term::Seq(v.iter().map(clone_particle).collect()),
            Term::Choice(v) => Term::Choice(v.iter().map(clone_particle).collect()),
        },
    }
}

enum Re {
    Eps,
    Pos(u32),
    Cat(Vec<Re>),
    Alt(Vec<Re>),
    Star(Box<Re>),
    Opt(Box<Re>),
}

fn union_into(dst: &mut Vec<u32>, src: &[u32]) {
    for &x in src {
        if !dst.contains(&x) {
            dst.push(x);
        }
    }
}

/// Returns (nullable, first, last) and fills `follow`.
fn glushkov(re: &Re, follow: &mut [Vec<u32>]) -> (bool, Vec<u32>, Vec<u32>) {
    match re {
        Re::Eps => (true, Vec::new(), Vec::new()),
        Re::Pos(p) => (false, vec![*p], vec![*p]),
        Re::Cat(items) => {
            let (mut n, mut f, mut l) = (true, Vec::new(), Vec::new());
            for it in items {
                let (n2, f2, l2) = glushkov(it, follow);
                for &x in &l {
                    union_into(&mut follow[x as usize], &f2);
                }
                if n {
                    union_into(&mut f, &f2);
                }
                if n2 {
                    union_into(&mut l, &l2);
                } else {
                    l = l2;
                }
                n = n && n2;
            }
            (n, f, l)
        }
        Re::Alt(items) => {
            if items.is_empty() {
                return (false, Vec::new(), Vec::new());
            }
            let (mut n, mut f, mut l) = (false, Vec::new(), Vec::new());
            for it in items {
                let (n2, f2, l2) = glushkov(it, follow);
                n |= n2;
                union_into(&mut f, &f2);
                union_into(&mut l, &l2);
            }
            (n, f, l)
        }
        Re::Star(inner) => {
            let (_, f, l) = glushkov(inner, follow);
            for &x in &l {
                union_into(&mut follow[x as usize], &f);
            }
            (true, f, l)
        }
        Re::Opt(inner) => {
            let (_, f, l) = glushkov(inner, follow);
            (true, f, l)
        }
    }
}
