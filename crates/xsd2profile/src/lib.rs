//! Library side of the `xsd2profile` developer tool: reads the official XSDs
//! and renders Overgang's profile files (format: `docs/PROFILES.md`).
//!
//! Only facts carry over: names, namespaces, cardinalities, types, facets,
//! fixed/default values and code list numbers found in annotations. Prose
//! (annotations, documentation, comments) never does.

use anyhow::{anyhow, bail, Context, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

const XS: &str = "http://www.w3.org/2001/XMLSchema";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Reads every `*.xsd` in `dir` (except our own `all.xsd` wrapper) and returns
/// `(relative path, profile text)` pairs, sorted by path.
pub fn generate(dir: &Path) -> Result<Vec<(String, String)>> {
    let names = xsd_names(dir, |n| n != "all.xsd")?;
    let mut out = BTreeMap::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).with_context(|| format!("reading {name}"))?;
        let text = decode(&bytes);
        let root = parse_dom(&text).with_context(|| format!("parsing {name}"))?;
        let rendered =
            render(&name, target_for(&name), &root).with_context(|| format!("rendering {name}"))?;
        if out.insert(rendered.0.clone(), rendered.1).is_some() {
            bail!("two schemas map to profile {}", rendered.0);
        }
    }
    Ok(out.into_iter().collect())
}

/// The `*.xsd` file names in `dir` that `keep` accepts, sorted; an error
/// when there are none.
fn xsd_names(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xsd") && keep(n))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no XSD files in {}", dir.display());
    }
    Ok(names)
}

/// The namespace prefix every Overgang extension schema's target namespace
/// must start with, so an extension can never declare anything in an
/// official namespace.
pub const EXTENSION_NS_PREFIX: &str = "urn:overgang:";

/// Reads Overgang's own extension schemas (`schemas/extensions/`, named
/// `overgang-<name>-v<version>.xsd`) and returns `(relative path, profile
/// text)` pairs under `extensions/`, sorted by path. Each schema must have a
/// target namespace starting with [`EXTENSION_NS_PREFIX`].
pub fn generate_extensions(dir: &Path) -> Result<Vec<(String, String)>> {
    let names = xsd_names(dir, |_| true)?;
    let mut out = BTreeMap::new();
    for name in names {
        let target = extension_target(&name)?;
        let bytes = std::fs::read(dir.join(&name)).with_context(|| format!("reading {name}"))?;
        let text = decode(&bytes);
        let root = parse_dom(&text).with_context(|| format!("parsing {name}"))?;
        let ns = root.attr("targetNamespace").unwrap_or("");
        if !ns.starts_with(EXTENSION_NS_PREFIX) {
            bail!("{name}: an extension's targetNamespace must start with {EXTENSION_NS_PREFIX} (found {ns:?})");
        }
        let rendered = render(&name, target, &root).with_context(|| format!("rendering {name}"))?;
        if out.insert(rendered.0.clone(), rendered.1).is_some() {
            bail!("two schemas map to profile {}", rendered.0);
        }
    }
    Ok(out.into_iter().collect())
}

/// `overgang-funksjonsprofil-v1.0.xsd` → `extensions/funksjonsprofil-1.0.profile`,
/// header `profile overgang funksjonsprofil 1.0`.
fn extension_target(file: &str) -> Result<Target> {
    let stem = file.trim_end_matches(".xsd");
    let parsed = stem
        .strip_prefix("overgang-")
        .and_then(|s| s.rsplit_once("-v"))
        .filter(|(name, version)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !version.is_empty()
                && version.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
    let Some((name, version)) = parsed else {
        bail!("{file}: an extension schema must be named overgang-<name>-v<version>.xsd");
    };
    Ok(Target {
        path: format!("extensions/{name}-{version}.profile"),
        family: "overgang".into(),
        name: name.into(),
        version: version.into(),
    })
}

/// UTF-8 or ISO-8859-1, as the XML declaration says.
fn decode(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_ascii_lowercase();
    if head.contains("iso-8859-1") || std::str::from_utf8(bytes).is_err() {
        bytes.iter().map(|&b| b as char).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

// ---------------------------------------------------------------------------
// A tiny DOM with in-scope namespace bindings.

type Scope = Rc<Vec<(String, String)>>;

#[derive(Debug)]
struct El {
    ns: String,
    local: String,
    attrs: Vec<(String, String)>,
    scope: Scope,
    children: Vec<El>,
    text: String,
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn xs_children(&self) -> impl Iterator<Item = &El> {
        self.children.iter().filter(|c| c.ns == XS)
    }
    fn is(&self, local: &str) -> bool {
        self.ns == XS && self.local == local
    }
    fn resolve(&self, qname: &str) -> Result<(String, String)> {
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", qname),
        };
        let uri = self
            .scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.clone());
        match uri {
            Some(u) => Ok((u, local.to_owned())),
            None if prefix.is_empty() => Ok((String::new(), local.to_owned())),
            None => bail!("undeclared prefix in {qname}"),
        }
    }
    /// All annotation text below this element (not below nested declarations).
    fn annotation_text(&self) -> String {
        let mut s = String::new();
        for c in self.xs_children().filter(|c| c.local == "annotation") {
            collect_text(c, &mut s);
        }
        s
    }
}

fn collect_text(e: &El, out: &mut String) {
    out.push_str(&e.text);
    out.push(' ');
    for c in &e.children {
        collect_text(c, out);
    }
}

fn parse_dom(text: &str) -> Result<El> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    loop {
        match reader.read_event().map_err(|e| anyhow!("{e}"))? {
            Event::Start(s) => {
                let el = open(&s, stack.last().map(|p| p.scope.clone()))?;
                stack.push(el);
            }
            Event::Empty(s) => {
                let el = open(&s, stack.last().map(|p| p.scope.clone()))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| anyhow!("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t.xml10_content());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.ok_or_else(|| anyhow!("no root element"))
}

fn open(s: &BytesStart<'_>, parent: Option<Scope>) -> Result<El> {
    let mut scope: Vec<(String, String)> = parent.map(|p| (*p).clone()).unwrap_or_default();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| anyhow!("{e}"))?;
        let key = a.key.as_ref().to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| anyhow!("{e}"))?
            .into_owned();
        if key == "xmlns" {
            scope.push((String::new(), value));
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            scope.push((p.to_owned(), value));
        } else {
            attrs.push((key, value));
        }
    }
    let qname = s.name().as_ref().to_owned();
    let scope = Rc::new(scope);
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (p.to_owned(), l.to_owned()),
        None => (String::new(), qname.clone()),
    };
    let ns = scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| u.clone())
        .unwrap_or_default();
    let _ = XMLNS_NS;
    Ok(El {
        ns,
        local,
        attrs,
        scope,
        children: Vec::new(),
        text: String::new(),
    })
}

// ---------------------------------------------------------------------------
// Where each schema's profile goes.

struct Target {
    path: String,
    family: String,
    name: String,
    version: String,
}

fn target_for(file: &str) -> Target {
    let fixed: &[(&str, &str, &str, &str, &str)] = &[
        (
            "MsgHead-v1_2.xsd",
            "msghead/msghead-1.2.profile",
            "msghead",
            "MsgHead",
            "1.2",
        ),
        (
            "AppRec-v1-2004-11-21.xsd",
            "apprec/apprec-1.0.profile",
            "apprec",
            "AppRec",
            "1.0",
        ),
        (
            "AppRec-v1.1.xsd",
            "apprec/apprec-1.1.profile",
            "apprec",
            "AppRec",
            "1.1",
        ),
        (
            "dialogmelding.xsd",
            "dialog/dialogmelding-1.0.profile",
            "dialog",
            "Dialogmelding",
            "1.0",
        ),
        (
            "dialogmelding-v1.1.xsd",
            "dialog/dialogmelding-1.1.profile",
            "dialog",
            "Dialogmelding",
            "1.1",
        ),
        ("kith.xsd", "common/kith.profile", "common", "kith", "-"),
        (
            "kith-base64.xsd",
            "common/base64container.profile",
            "common",
            "Base64Container",
            "1.0",
        ),
        (
            "felleskomponent1.xsd",
            "common/felleskomponent1.profile",
            "common",
            "felleskomponent1",
            "1",
        ),
        (
            "xmldsig-core-schema.xsd",
            "common/xmldsig.profile",
            "common",
            "xmldsig",
            "2000-09",
        ),
        (
            "EPJ-meta.xsd",
            "common/epj-meta.profile",
            "common",
            "EPJ-meta",
            "2008-02-20",
        ),
        (
            "EPJ-cave-mv.xsd",
            "common/epj-cave.profile",
            "common",
            "EPJ-cave",
            "2008-02-20",
        ),
        (
            "EPJ-journalnotat-mv.xsd",
            "common/epj-journalnotat.profile",
            "common",
            "EPJ-journalnotat",
            "2008-02-20",
        ),
        (
            "EPJ-legemiddel-mv.xsd",
            "common/epj-legemiddel.profile",
            "common",
            "EPJ-legemiddel",
            "2008-02-20",
        ),
    ];
    if let Some((_, path, family, name, version)) = fixed.iter().find(|f| f.0 == file) {
        return Target {
            path: (*path).into(),
            family: (*family).into(),
            name: (*name).into(),
            version: (*version).into(),
        };
    }
    let stem = file.trim_end_matches(".xsd");
    if let Some((name, version)) = stem.rsplit_once("-v") {
        if version.chars().all(|c| c.is_ascii_digit() || c == '.') && !version.is_empty() {
            return Target {
                path: format!("plo-{version}/{name}.profile"),
                family: "plo".into(),
                name: name.into(),
                version: version.into(),
            };
        }
    }
    Target {
        path: format!("other/{stem}.profile"),
        family: "other".into(),
        name: stem.into(),
        version: "-".into(),
    }
}

// ---------------------------------------------------------------------------
// Rendering.

struct Ctx {
    target_ns: String,
    element_qualified: bool,
    attribute_qualified: bool,
    /// namespace URI → prefix used in this profile
    prefixes: BTreeMap<String, String>,
    /// prefix preferences from the schema's own declarations
    preferred: Vec<(String, String)>,
    out: String,
}

impl Ctx {
    fn qname(&mut self, e: &El, raw: &str) -> Result<String> {
        let (ns, local) = e.resolve(raw)?;
        Ok(self.name_in(&ns, &local))
    }

    fn name_in(&mut self, ns: &str, local: &str) -> String {
        if ns == self.target_ns {
            return local.to_owned();
        }
        if ns == XS {
            return format!("xs:{local}");
        }
        if let Some(p) = self.prefixes.get(ns) {
            return format!("{p}:{local}");
        }
        let mut p = self
            .preferred
            .iter()
            .find(|(p, u)| u == ns && !p.is_empty() && p != "xs" && p != "xsd")
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| "ns".into());
        if self.prefixes.values().any(|v| *v == p) || p == "xs" {
            let mut i = 1;
            while self.prefixes.values().any(|v| *v == format!("{p}{i}")) {
                i += 1;
            }
            p = format!("{p}{i}");
        }
        self.prefixes.insert(ns.to_owned(), p.clone());
        format!("{p}:{local}")
    }

    fn line(&mut self, depth: usize, s: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }
}

fn render(file: &str, t: Target, root: &El) -> Result<(String, String)> {
    if !root.is("schema") {
        bail!("root is not xs:schema");
    }
    let mut cx = Ctx {
        target_ns: root.attr("targetNamespace").unwrap_or("").to_owned(),
        element_qualified: root.attr("elementFormDefault") == Some("qualified"),
        attribute_qualified: root.attr("attributeFormDefault") == Some("qualified"),
        prefixes: BTreeMap::new(),
        preferred: (*root.scope).clone(),
        out: String::new(),
    };
    for c in root.xs_children() {
        match c.local.as_str() {
            "annotation" | "import" | "include" | "notation" => continue,
            "element" => element(&mut cx, c, 0, true)?,
            "complexType" => {
                let name = req(c, "name")?;
                let mut head = format!("complex {name}");
                complex_flags(c, &mut head);
                cx.line(0, &head);
                complex_body(&mut cx, c, 1)?;
            }
            "simpleType" => {
                let name = req(c, "name")?;
                cx.line(0, &format!("simple {name}"));
                simple_body(&mut cx, c, 1)?;
            }
            "attribute" => attribute(&mut cx, c, 0, true)?,
            "attributeGroup" => {
                let name = req(c, "name")?;
                cx.line(0, &format!("attribute-group {name}"));
                for a in c.xs_children() {
                    attr_item(&mut cx, a, 1)?;
                }
            }
            "group" => {
                let name = req(c, "name")?;
                cx.line(0, &format!("group {name}"));
                for p in c.xs_children() {
                    particle(&mut cx, p, 1)?;
                }
            }
            other => bail!("unsupported top-level xs:{other}"),
        }
        cx.out.push('\n');
    }
    let mut head = String::new();
    head.push_str(&format!(
        "# Overgang profile, generated by xsd2profile from {file}. Facts only; do not edit by hand.\n"
    ));
    head.push_str(&format!("profile {} {} {}\n", t.family, t.name, t.version));
    if !cx.target_ns.is_empty() {
        head.push_str(&format!("target {}\n", cx.target_ns));
    }
    for (uri, p) in &cx.prefixes {
        head.push_str(&format!("prefix {p} {uri}\n"));
    }
    head.push('\n');
    let body = cx.out.trim_end().to_owned();
    Ok((t.path, format!("{head}{body}\n")))
}

fn req<'a>(e: &'a El, name: &str) -> Result<&'a str> {
    e.attr(name)
        .ok_or_else(|| anyhow!("xs:{} without @{name}", e.local))
}

fn card(e: &El) -> Result<String> {
    let min = e.attr("minOccurs").unwrap_or("1").trim();
    let max = e.attr("maxOccurs").unwrap_or("1").trim();
    let min: u32 = min.parse().with_context(|| format!("minOccurs {min}"))?;
    let max = if max == "unbounded" {
        "*".to_owned()
    } else {
        max.parse::<u32>()
            .with_context(|| format!("maxOccurs {max}"))?
            .to_string()
    };
    if min == 1 && max == "1" {
        Ok(String::new())
    } else {
        Ok(format!(" {min}..{max}"))
    }
}

fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Code list numbers named in an annotation: `kodeverk NNNN` or an OID
/// `2.16.578.1.12.4.1.1.NNNN`.
pub fn code_lists(text: &str) -> Vec<u32> {
    let mut found = Vec::new();
    const OID: &str = "2.16.578.1.12.4.1.1.";
    let mut rest = text;
    while let Some(i) = rest.find(OID) {
        let digits: String = rest[i + OID.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(n) = digits.parse() {
            found.push(n);
        }
        rest = &rest[i + OID.len()..];
    }
    let lower = text.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("kodeverk") {
        let after = rest[i + "kodeverk".len()..].trim_start();
        let after = after
            .strip_prefix("nr.")
            .or_else(|| after.strip_prefix("nr"))
            .or_else(|| after.strip_prefix(':'))
            .unwrap_or(after)
            .trim_start();
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.len() == 4 {
            if let Ok(n) = digits.parse() {
                found.push(n);
            }
        }
        rest = &rest[i + "kodeverk".len()..];
    }
    found.sort_unstable();
    found.dedup();
    found
}

fn codes_flag(e: &El, line: &mut String) {
    let codes = code_lists(&e.annotation_text());
    if !codes.is_empty() {
        let list: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        line.push_str(&format!(" codes={}", list.join(",")));
    }
}

fn value_flags(e: &El, line: &mut String) {
    if let Some(v) = e.attr("fixed") {
        line.push_str(&format!(" fixed={}", quote(v)));
    }
    if let Some(v) = e.attr("default") {
        line.push_str(&format!(" default={}", quote(v)));
    }
}

fn is_true(v: Option<&str>) -> bool {
    matches!(v.map(str::trim), Some("true") | Some("1"))
}

fn complex_flags(ct: &El, line: &mut String) {
    let mixed = is_true(ct.attr("mixed"))
        || ct
            .xs_children()
            .any(|c| c.local == "complexContent" && is_true(c.attr("mixed")));
    if mixed {
        line.push_str(" mixed");
    }
    if is_true(ct.attr("abstract")) {
        line.push_str(" abstract");
    }
}

fn element(cx: &mut Ctx, e: &El, depth: usize, global: bool) -> Result<()> {
    if let Some(r) = e.attr("ref") {
        let q = cx.qname(e, r)?;
        let line = format!("ref {q}{}", card(e)?);
        cx.line(depth, &line);
        return Ok(());
    }
    let name = req(e, "name")?;
    let mut line = format!("element {name}");
    if !global {
        line.push_str(&card(e)?);
        let qualified = match e.attr("form") {
            Some(f) => f == "qualified",
            None => cx.element_qualified,
        };
        if !qualified && !cx.target_ns.is_empty() {
            line.push_str(" unqualified");
        }
    }
    if let Some(t) = e.attr("type") {
        let q = cx.qname(e, t)?;
        line.push_str(&format!(" type={q}"));
    }
    value_flags(e, &mut line);
    if is_true(e.attr("nillable")) {
        line.push_str(" nillable");
    }
    if is_true(e.attr("abstract")) {
        line.push_str(" abstract");
    }
    if let Some(sg) = e.attr("substitutionGroup") {
        let q = cx.qname(e, sg)?;
        line.push_str(&format!(" substitutes={q}"));
    }
    let mut codes = String::new();
    codes_flag(e, &mut codes);
    let ct = e.xs_children().find(|c| c.local == "complexType");
    let st = e.xs_children().find(|c| c.local == "simpleType");
    if e.attr("type").is_some() && (ct.is_some() || st.is_some()) {
        bail!("element {name} has both @type and an inline type");
    }
    if let Some(ct) = ct {
        line.push_str(" complex");
        complex_flags(ct, &mut line);
        line.push_str(&codes);
        cx.line(depth, &line);
        complex_body(cx, ct, depth + 1)?;
    } else if let Some(st) = st {
        line.push_str(" simple");
        line.push_str(&codes);
        cx.line(depth, &line);
        simple_body(cx, st, depth + 1)?;
    } else {
        line.push_str(&codes);
        cx.line(depth, &line);
    }
    Ok(())
}

fn complex_body(cx: &mut Ctx, ct: &El, depth: usize) -> Result<()> {
    for c in ct.xs_children() {
        match c.local.as_str() {
            "annotation" => {}
            "sequence" | "choice" | "all" | "group" => particle(cx, c, depth)?,
            "attribute" | "attributeGroup" | "anyAttribute" => attr_item(cx, c, depth)?,
            "complexContent" | "simpleContent" => {
                let simple = c.local == "simpleContent";
                for d in c.xs_children() {
                    let kind = match d.local.as_str() {
                        "annotation" => continue,
                        "extension" => "extends",
                        "restriction" => "restricts",
                        other => bail!("unsupported xs:{other} in content"),
                    };
                    let base = cx.qname(d, req(d, "base")?)?;
                    let kw = if simple {
                        format!("simple-{kind} {base}")
                    } else {
                        format!("{kind} {base}")
                    };
                    cx.line(depth, &kw);
                    for x in d.xs_children() {
                        match x.local.as_str() {
                            "annotation" => {}
                            "sequence" | "choice" | "all" | "group" => particle(cx, x, depth)?,
                            "attribute" | "attributeGroup" | "anyAttribute" => {
                                attr_item(cx, x, depth)?
                            }
                            "simpleType" => bail!("inline simple type in simpleContent"),
                            _ if simple => facet(cx, x, depth)?,
                            other => bail!("unsupported xs:{other} in derivation"),
                        }
                    }
                }
            }
            other => bail!("unsupported xs:{other} in complexType"),
        }
    }
    Ok(())
}

fn particle(cx: &mut Ctx, p: &El, depth: usize) -> Result<()> {
    match p.local.as_str() {
        "annotation" => {}
        "element" => element(cx, p, depth, false)?,
        "sequence" | "choice" | "all" => {
            cx.line(depth, &format!("{}{}", p.local, card(p)?));
            for c in p.xs_children() {
                particle(cx, c, depth + 1)?;
            }
        }
        "group" => {
            let q = cx.qname(p, req(p, "ref")?)?;
            cx.line(depth, &format!("group-ref {q}{}", card(p)?));
        }
        "any" => {
            let ns = p.attr("namespace").unwrap_or("##any").trim();
            let ns = ns.split_whitespace().collect::<Vec<_>>().join(",");
            let process = p.attr("processContents").unwrap_or("strict");
            cx.line(
                depth,
                &format!("any{} namespace={ns} process={process}", card(p)?),
            );
        }
        other => bail!("unsupported particle xs:{other}"),
    }
    Ok(())
}

fn attribute(cx: &mut Ctx, a: &El, depth: usize, global: bool) -> Result<()> {
    let use_flag = match a.attr("use") {
        Some("required") => " required",
        Some("prohibited") => " prohibited",
        _ => "",
    };
    if let Some(r) = a.attr("ref") {
        let q = cx.qname(a, r)?;
        let mut line = format!("attribute-ref {q}{use_flag}");
        value_flags(a, &mut line);
        cx.line(depth, &line);
        return Ok(());
    }
    let name = req(a, "name")?;
    let mut line = format!("attribute {name}{use_flag}");
    if !global {
        let qualified = match a.attr("form") {
            Some(f) => f == "qualified",
            None => cx.attribute_qualified,
        };
        if qualified && !cx.target_ns.is_empty() {
            line.push_str(" qualified");
        }
    }
    if let Some(t) = a.attr("type") {
        let q = cx.qname(a, t)?;
        line.push_str(&format!(" type={q}"));
    }
    value_flags(a, &mut line);
    codes_flag(a, &mut line);
    if let Some(st) = a.xs_children().find(|c| c.local == "simpleType") {
        line.push_str(" simple");
        cx.line(depth, &line);
        simple_body(cx, st, depth + 1)?;
    } else {
        cx.line(depth, &line);
    }
    Ok(())
}

fn attr_item(cx: &mut Ctx, a: &El, depth: usize) -> Result<()> {
    match a.local.as_str() {
        "annotation" => {}
        "attribute" => attribute(cx, a, depth, false)?,
        "attributeGroup" => {
            let q = cx.qname(a, req(a, "ref")?)?;
            cx.line(depth, &format!("attribute-group-ref {q}"));
        }
        "anyAttribute" => {
            let ns = a.attr("namespace").unwrap_or("##any").trim();
            let ns = ns.split_whitespace().collect::<Vec<_>>().join(",");
            let process = a.attr("processContents").unwrap_or("strict");
            cx.line(
                depth,
                &format!("any-attribute namespace={ns} process={process}"),
            );
        }
        other => bail!("unsupported xs:{other} among attributes"),
    }
    Ok(())
}

fn simple_body(cx: &mut Ctx, st: &El, depth: usize) -> Result<()> {
    for c in st.xs_children() {
        match c.local.as_str() {
            "annotation" => {}
            "restriction" => {
                let base = cx.qname(c, req(c, "base")?)?;
                cx.line(depth, &format!("restricts {base}"));
                for f in c.xs_children() {
                    facet(cx, f, depth)?;
                }
            }
            "union" => {
                let mut line = String::from("union");
                for m in c.attr("memberTypes").unwrap_or("").split_whitespace() {
                    let q = cx.qname(c, m)?;
                    line.push(' ');
                    line.push_str(&q);
                }
                if c.xs_children().any(|x| x.local == "simpleType") {
                    bail!("inline member types in a union");
                }
                cx.line(depth, &line);
            }
            "list" => {
                let item = cx.qname(c, req(c, "itemType")?)?;
                cx.line(depth, &format!("list {item}"));
            }
            other => bail!("unsupported xs:{other} in simpleType"),
        }
    }
    Ok(())
}

fn facet(cx: &mut Ctx, f: &El, depth: usize) -> Result<()> {
    let kw = match f.local.as_str() {
        "annotation" => return Ok(()),
        "enumeration" => "enum",
        "pattern" => "pattern",
        "length" => "length",
        "minLength" => "min-length",
        "maxLength" => "max-length",
        "minInclusive" => "min-inclusive",
        "maxInclusive" => "max-inclusive",
        "minExclusive" => "min-exclusive",
        "maxExclusive" => "max-exclusive",
        "totalDigits" => "total-digits",
        "fractionDigits" => "fraction-digits",
        "whiteSpace" => "whitespace",
        "simpleType" => bail!("inline base type in a restriction"),
        other => bail!("unsupported facet xs:{other}"),
    };
    let v = req(f, "value")?;
    if v.trim() != v || v.contains('\n') {
        bail!("facet value with surrounding whitespace or a line break");
    }
    cx.line(depth, &format!("{kw} {v}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_code_lists() {
        assert_eq!(code_lists("bruk kodeverk 9121 her"), vec![9121]);
        assert_eq!(code_lists("OID 2.16.578.1.12.4.1.1.8116."), vec![8116]);
        assert_eq!(code_lists("Kodeverk: 7309 og kodeverk 123"), vec![7309]);
        assert!(code_lists("ingenting").is_empty());
    }

    #[test]
    fn paths() {
        assert_eq!(
            target_for("Innleggelsesrapport-v1.6.xsd").path,
            "plo-1.6/Innleggelsesrapport.profile"
        );
        assert_eq!(
            target_for("MsgHead-v1_2.xsd").path,
            "msghead/msghead-1.2.profile"
        );
    }

    #[test]
    fn extension_paths() {
        let t = extension_target("overgang-funksjonsprofil-v1.0.xsd").expect("valid name");
        assert_eq!(t.path, "extensions/funksjonsprofil-1.0.profile");
        assert_eq!(
            (t.family.as_str(), t.name.as_str(), t.version.as_str()),
            ("overgang", "funksjonsprofil", "1.0")
        );
        for bad in [
            "funksjonsprofil-v1.0.xsd",
            "overgang-funksjonsprofil.xsd",
            "overgang-Funksjonsprofil-v1.0.xsd",
            "overgang--v1.0.xsd",
            "overgang-x-v.xsd",
        ] {
            assert!(extension_target(bad).is_err(), "{bad}");
        }
    }
}
