//! Small value types shared by the model, and reading helpers.

use overgang_xml::{Document, Node};
use std::fmt;

/// A value that may identify or describe a patient. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    /// The value. Do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where an item is in the document, so a rule can point at it: the element's
/// id in the parsed [`overgang_xml::Document`]. Path and position are worked
/// out only when a finding needs them ([`Loc::path`], [`Loc::line_col`], or
/// the schema-aware `SchemaSet::path_of`), so reading a valid message does
/// not pay for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub node: u32,
}

impl Loc {
    pub fn of(n: Node<'_>) -> Loc {
        Loc { node: n.id() }
    }

    /// The element in `doc` (the document the message was read from).
    pub fn node<'d>(&self, doc: &'d Document) -> Option<Node<'d>> {
        doc.node(self.node)
    }

    /// Absolute path of local names, indexed where names repeat in this
    /// document; empty when `doc` is not the document read.
    pub fn path(&self, doc: &Document) -> String {
        self.node(doc).map(|n| n.path()).unwrap_or_default()
    }

    /// 1-based line and column of the element's start tag.
    pub fn line_col(&self, doc: &Document) -> (u32, u32) {
        self.node(doc).map(|n| n.line_col()).unwrap_or((0, 0))
    }
}

/// A coded value (`kith:CS`/`CV`): `V`, `DN`, `S` (OID), `OT`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Coded {
    pub v: Option<String>,
    pub dn: Option<String>,
    pub s: Option<String>,
    pub ot: Option<String>,
}

impl Coded {
    pub fn read(n: Node<'_>) -> Coded {
        let a = |k: &str| n.attr(k).map(str::to_owned);
        Coded {
            v: n.attr("V").map(|v| v.trim().to_owned()),
            dn: a("DN"),
            s: a("S"),
            ot: a("OT"),
        }
    }

    /// The code (`V`), trimmed.
    pub fn code(&self) -> Option<&str> {
        self.v.as_deref()
    }

    /// The code list number from `S`, when it is a Volven OID.
    pub fn list(&self) -> Option<u32> {
        self.s
            .as_deref()?
            .trim()
            .strip_prefix("2.16.578.1.12.4.1.1.")?
            .parse()
            .ok()
    }
}

/// An identifier with its type (`Ident/Id` + `Ident/TypeId`), and where the
/// `Ident` element is (so routing can point at a receiver's HER-id).
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Ident {
    pub loc: Loc,
    pub id: Option<String>,
    pub type_id: Option<Coded>,
}

impl Ident {
    pub fn type_code(&self) -> Option<&str> {
        self.type_id.as_ref().and_then(|t| t.code())
    }
}

/// The first identifier of type `HER` (code list 9051 or 8116) among
/// `idents`, with its index in the list.
pub fn her_ident(idents: &[Ident]) -> Option<(usize, &Ident)> {
    idents
        .iter()
        .enumerate()
        .find(|(_, i)| i.type_code() == Some("HER") && i.id.is_some())
}

/// A coded value and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LocatedCode {
    pub code: Coded,
    pub loc: Loc,
}

/// Trimmed text of an element; `None` when absent or only whitespace.
pub(crate) fn text(n: Option<Node<'_>>) -> Option<String> {
    let t = n?.text().trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// First child with this local name, namespace as the parent's or any PLO one.
pub(crate) fn po_child<'d>(n: Node<'d>, name: &str) -> Option<Node<'d>> {
    n.children()
        .find(|c| c.name() == name && crate::standard::is_plo_namespace(c.ns()))
}

/// A `kith:TS` or `dateTime` value: the `V` attribute, else the text.
pub(crate) fn ts(n: Option<Node<'_>>) -> Option<String> {
    let n = n?;
    n.attr("V")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| text(Some(n)))
}

/// Reads identifiers: `Ident` children in `ns` with `Id` and `TypeId`.
pub(crate) fn idents(n: Node<'_>, ns: &str) -> Vec<Ident> {
    n.children_named(ns, "Ident")
        .map(|i| Ident {
            loc: Loc::of(i),
            id: text(i.child(ns, "Id")),
            type_id: i.child(ns, "TypeId").map(Coded::read),
        })
        .collect()
}
