//! The address registry: every party Overgang knows, by HER-id — its name,
//! kind, place in its organisation, where messages to it are delivered, which
//! message types and versions it accepts, and how Overgang authenticates to
//! it (by reference to secret files, never the secrets themselves).
//!
//! The registry is read from the text of a TOML file of `[[party]]` tables
//! ([`Registry::parse`]); `docs/REGISTRY.md` documents the format. A file is
//! taken whole or not at all: every problem found is reported with the file,
//! line and field, and nothing of a broken file is used.
//!
//! **Inheritance.** A party without its own `endpoint` is reached through
//! its nearest ancestor that has one (endpoint and auth together): level-2
//! units (a ward, a municipal service, a GP) are usually reached through
//! their organisation's system. `accepts` and `callback` are inherited the
//! same way, each on its own.
//!
//! Pure: no IO, no clock, no global state.

mod file;

use file::{line_of, AcceptSpec, AuthSpec, PartySpec, RegistryFile};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// Why a registry file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The text is not TOML, or not of the registry's shape (an unknown
    /// field, a wrong type).
    #[error("{file}:{line}: {what}")]
    Syntax {
        file: String,
        line: usize,
        what: String,
    },
    /// The file reads, but parties in it are wrong; one problem per line
    /// of the message.
    #[error("{}", join_problems(.0))]
    Invalid(Vec<Problem>),
}

impl RegistryError {
    /// Every problem as its own line of text (`file:line: party …: …`).
    pub fn lines(&self) -> Vec<String> {
        match self {
            RegistryError::Syntax { .. } => vec![self.to_string()],
            RegistryError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
        }
    }
}

fn join_problems(p: &[Problem]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One thing wrong with one party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// The party's HER-id as written.
    pub her: String,
    /// The field at fault (`her`, `parent`, `endpoint`, `auth`, …).
    pub field: &'static str,
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_her_id(&self.her) {
            write!(
                f,
                "{}:{}: party {}: {}",
                self.file, self.line, self.her, self.what
            )
        } else {
            write!(
                f,
                "{}:{}: party {:?}: {}",
                self.file, self.line, self.her, self.what
            )
        }
    }
}

/// What a party is. A closed set; `docs/REGISTRY.md` explains each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Level 1: a health trust, a municipality, a GP practice.
    Organisation,
    /// Level 2 under a hospital: a ward, a department, a PLO office.
    HospitalService,
    /// Level 2 under a municipality: allocation office, home care, nursing home.
    MunicipalService,
    /// A GP (fastlege), addressed as a person at a practice.
    Gp,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Organisation,
        Kind::HospitalService,
        Kind::MunicipalService,
        Kind::Gp,
    ];

    /// The name as written in registry files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organisation => "organisation",
            Kind::HospitalService => "hospital_service",
            Kind::MunicipalService => "municipal_service",
            Kind::Gp => "gp",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked delivery URL: `https://…`, or `http://…` on loopback only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    host: String,
    port: Option<u16>,
    tls: bool,
}

impl Endpoint {
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The host as written (`[::1]` keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// `true` for https.
    pub fn tls(&self) -> bool {
        self.tls
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// How Overgang authenticates to a receiver: paths of secret files, as
/// written (relative paths are relative to the registry file's folder; the
/// server resolves them).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Auth {
    /// Client certificate (PEM) for mutual TLS; always with `client_key`.
    pub client_cert: Option<String>,
    /// The certificate's private key (PEM).
    pub client_key: Option<String>,
    /// A file holding the bearer token to send.
    pub bearer_token_file: Option<String>,
}

/// A message type (code list 8279) and the versions of it a party takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accept {
    pub msg_type: String,
    pub versions: Vec<String>,
}

/// One party, as listed (nothing inherited: see [`Registry::route`] and
/// friends for the effective values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub her: String,
    pub name: String,
    pub kind: Kind,
    pub parent: Option<String>,
    /// Municipality number (4 digits): municipal services and their organisation.
    pub municipality: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub auth: Option<Auth>,
    /// `None`: not stated here (inherited); `Some(empty)`: accepts nothing.
    pub accepts: Option<Vec<Accept>>,
    pub callback: Option<Endpoint>,
    /// The line of the party's `her` in the file.
    pub line: usize,
}

/// Where and how to deliver to a party: its own endpoint or an ancestor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route<'a> {
    pub endpoint: &'a Endpoint,
    pub auth: Option<&'a Auth>,
    /// The HER-id of the party whose endpoint this is.
    pub via: &'a str,
}

/// The parsed, checked registry.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    name: String,
    parties: Vec<Party>,
    index: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
}

/// Whether `s` is a HER-id: 1 to 10 digits.
pub fn is_her_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is a municipality number: 4 digits.
pub fn is_municipality_number(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a delivery or callback URL. Texts never repeat the URL (it might
/// carry a password); at most its host.
pub fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    if url.is_empty() {
        return Err("is empty".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not a URL (expected https://host/path)".into());
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => {
            return Err(format!(
                "has scheme «{scheme}»; only https (or http on loopback) is allowed"
            ))
        }
    };
    if rest.contains('#') {
        return Err("has a fragment (#…); a delivery URL has none".into());
    }
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    if authority.contains('@') {
        return Err("carries a user name or password; name a secret file in auth instead".into());
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let Some(close) = after.find(']') else {
            return Err("has an unclosed [ in its host".into());
        };
        let inner = &after[..close];
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("has an invalid IPv6 host".into());
        }
        (&authority[..close + 2], &after[close + 1..])
    } else {
        match authority.find(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        }
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err("has an invalid host name".into());
    }
    let port = match port {
        "" => None,
        p => match p.strip_prefix(':').and_then(|n| n.parse::<u16>().ok()) {
            Some(n) if n > 0 => Some(n),
            _ => return Err(format!("host {host} has an invalid port")),
        },
    };
    if let Some((_, query)) = tail.split_once('?') {
        for pair in query.split('&') {
            let key = pair.split('=').next().unwrap_or("");
            if file::looks_like_secret_field(key) {
                return Err(format!(
                    "has a query parameter «{key}» that looks like an inline secret; name a secret file in auth instead"
                ));
            }
        }
    }
    let loopback = matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "[::1]" | "localhost"
    );
    if !tls && !loopback {
        return Err(format!(
            "uses plain http to {host}; only https is allowed beyond loopback (127.0.0.1, ::1, localhost)"
        ));
    }
    Ok(Endpoint {
        url: url.to_owned(),
        host: host.to_owned(),
        port,
        tls,
    })
}

/// Collects problems while checking a file.
struct Check<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn add(&mut self, span: Range<usize>, her: &str, field: &'static str, what: String) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line: line_of(self.text, span.start),
            her: her.to_owned(),
            field,
            what,
        });
    }
}

impl Registry {
    /// Reads and checks a registry. `name` names the file in errors.
    pub fn parse(name: &str, text: &str) -> Result<Registry, RegistryError> {
        let parsed: RegistryFile = toml::from_str(text).map_err(|e| RegistryError::Syntax {
            file: name.to_owned(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
            what: file::clean_syntax_message(e.message()),
        })?;
        let lists = overgang_codelists::CodeLists::builtin();
        let mut ck = Check {
            file: name,
            text,
            problems: Vec::new(),
        };
        let mut reg = Registry {
            name: name.to_owned(),
            ..Registry::default()
        };
        // Each party on its own.
        let mut parent_spans: HashMap<String, Range<usize>> = HashMap::new();
        let mut muni_spans: HashMap<String, Range<usize>> = HashMap::new();
        for spec in &parsed.party {
            let her = spec.her.get_ref().trim().to_owned();
            let line = line_of(text, spec.her.span().start);
            let party = check_party(&mut ck, spec, &her, line, &lists);
            if !is_her_id(&her) {
                ck.add(
                    spec.her.span(),
                    &her,
                    "her",
                    format!("her {her:?} is not a HER-id (1 to 10 digits)"),
                );
                continue;
            }
            if let Some(&first) = reg.index.get(&her) {
                let first_line = reg.parties[first].line;
                ck.add(
                    spec.her.span(),
                    &her,
                    "her",
                    format!("HER-id {her} is listed twice (first at line {first_line})"),
                );
                continue;
            }
            let Some(party) = party else { continue };
            if let Some(p) = &spec.parent {
                parent_spans.insert(her.clone(), p.span());
            }
            if let Some(m) = &spec.municipality {
                muni_spans.insert(her.clone(), m.span());
            }
            reg.index.insert(her, reg.parties.len());
            reg.parties.push(party);
        }
        // Parents: listed, of a fitting kind, no loops.
        for (i, p) in reg.parties.iter().enumerate() {
            let Some(parent) = &p.parent else { continue };
            let span = parent_spans.get(&p.her).cloned().unwrap_or(0..0);
            match reg.index.get(parent) {
                None => ck.add(
                    span,
                    &p.her,
                    "parent",
                    format!("parent {parent} is not in the registry"),
                ),
                Some(&j) => {
                    let pk = reg.parties[j].kind;
                    let bad = match (p.kind, pk) {
                        (_, Kind::Gp) => Some("a gp is a person and has no units".to_owned()),
                        (Kind::HospitalService, Kind::MunicipalService)
                        | (Kind::MunicipalService, Kind::HospitalService) => {
                            Some(format!("a {} cannot belong to a {}", p.kind, pk))
                        }
                        _ => None,
                    };
                    if let Some(why) = bad {
                        ck.add(span, &p.her, "parent", format!("parent {parent}: {why}"));
                    } else {
                        reg.children.entry(parent.clone()).or_default().push(i);
                    }
                }
            }
        }
        for p in &reg.parties {
            let mut chain = vec![p.her.as_str()];
            let mut seen = HashSet::new();
            let mut cur = p.parent.as_deref();
            while let Some(h) = cur {
                chain.push(h);
                if h == p.her {
                    let span = parent_spans.get(&p.her).cloned().unwrap_or(0..0);
                    ck.add(
                        span,
                        &p.her,
                        "parent",
                        format!(
                            "the parent chain loops back to this party ({})",
                            chain.join(" → ")
                        ),
                    );
                    break;
                }
                if !seen.insert(h) {
                    break; // a loop above this party, reported at its members
                }
                cur = reg.get(h).and_then(|q| q.parent.as_deref());
            }
        }
        if !ck.problems.is_empty() {
            return Err(invalid(ck.problems));
        }
        // Municipality numbers: municipal services and their organisation.
        for p in &reg.parties {
            let span = muni_spans
                .get(&p.her)
                .cloned()
                .unwrap_or_else(|| line_span(text, p.line));
            let org = reg.organisation(&p.her);
            match p.kind {
                Kind::MunicipalService => match &p.municipality {
                    None => ck.add(
                        span,
                        &p.her,
                        "municipality",
                        "a municipal_service needs its municipality number (municipality = \"NNNN\")".into(),
                    ),
                    Some(m) => {
                        if let Some(o) = org.filter(|o| o.her != p.her) {
                            match &o.municipality {
                                Some(om) if om != m => ck.add(
                                    span,
                                    &p.her,
                                    "municipality",
                                    format!("municipality {m} differs from its organisation {}'s ({om})", o.her),
                                ),
                                Some(_) => {}
                                None => {
                                    let ospan = line_span(text, o.line);
                                    ck.add(
                                        ospan,
                                        &o.her,
                                        "municipality",
                                        format!("organisation of municipal_service {} needs its municipality number", p.her),
                                    )
                                }
                            }
                        }
                    }
                },
                Kind::HospitalService | Kind::Gp => {
                    if p.municipality.is_some() {
                        ck.add(
                            span,
                            &p.her,
                            "municipality",
                            format!("municipality is only for municipal parties, not a {}", p.kind),
                        );
                    }
                }
                Kind::Organisation => {
                    if p.municipality.is_some() {
                        if let Some(d) = reg
                            .descendants(&p.her)
                            .into_iter()
                            .find(|d| matches!(d.kind, Kind::HospitalService | Kind::Gp))
                        {
                            ck.add(
                                span,
                                &p.her,
                                "municipality",
                                format!(
                                    "municipality is only for municipal organisations, and {} under it is a {}",
                                    d.her, d.kind
                                ),
                            );
                        }
                    }
                }
            }
        }
        if !ck.problems.is_empty() {
            return Err(invalid(ck.problems));
        }
        Ok(reg)
    }

    /// The name the registry was read under (its file).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn get(&self, her: &str) -> Option<&Party> {
        self.index.get(her.trim()).map(|&i| &self.parties[i])
    }

    /// The parties in file order.
    pub fn parties(&self) -> impl Iterator<Item = &Party> + '_ {
        self.parties.iter()
    }

    pub fn len(&self) -> usize {
        self.parties.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }

    /// The party and its ancestors, nearest first.
    pub fn lineage(&self, her: &str) -> impl Iterator<Item = &Party> + '_ {
        let mut cur = self.get(her);
        let mut left = self.parties.len();
        std::iter::from_fn(move || {
            let p = cur?;
            if left == 0 {
                return None;
            }
            left -= 1;
            cur = p.parent.as_deref().and_then(|h| self.get(h));
            Some(p)
        })
    }

    /// The parent party.
    pub fn parent(&self, her: &str) -> Option<&Party> {
        self.get(her)?.parent.as_deref().and_then(|h| self.get(h))
    }

    /// The direct children (units, persons), in file order.
    pub fn children(&self, her: &str) -> impl Iterator<Item = &Party> + '_ {
        self.children
            .get(her.trim())
            .into_iter()
            .flatten()
            .map(|&i| &self.parties[i])
    }

    /// Every party below `her`, depth first.
    pub fn descendants(&self, her: &str) -> Vec<&Party> {
        let mut out = Vec::new();
        let mut stack: Vec<&Party> = self.children(her).collect();
        stack.reverse();
        while let Some(p) = stack.pop() {
            out.push(p);
            if out.len() > self.parties.len() {
                break;
            }
            let mut kids: Vec<&Party> = self.children(&p.her).collect();
            kids.reverse();
            stack.extend(kids);
        }
        out
    }

    /// The level-1 organisation a party belongs to (itself for an organisation).
    pub fn organisation(&self, her: &str) -> Option<&Party> {
        self.lineage(her).last()
    }

    /// Where and how to deliver to `her`: its own endpoint (with its auth),
    /// else its nearest ancestor's. `None`: the party cannot be reached.
    pub fn route(&self, her: &str) -> Option<Route<'_>> {
        self.lineage(her).find_map(|p| {
            p.endpoint.as_ref().map(|e| Route {
                endpoint: e,
                auth: p.auth.as_ref(),
                via: &p.her,
            })
        })
    }

    /// The endpoint messages to `her` are delivered to (with inheritance).
    pub fn effective_endpoint(&self, her: &str) -> Option<&Endpoint> {
        self.route(her).map(|r| r.endpoint)
    }

    /// The auth for delivering to `her` (its route's).
    pub fn effective_auth(&self, her: &str) -> Option<&Auth> {
        self.route(her).and_then(|r| r.auth)
    }

    /// What `her` accepts: its own list, else its nearest ancestor's.
    pub fn effective_accepts(&self, her: &str) -> Option<&[Accept]> {
        self.lineage(her).find_map(|p| p.accepts.as_deref())
    }

    /// Where receipts for `her` as a sender go: its own callback, else its
    /// nearest ancestor's.
    pub fn effective_callback(&self, her: &str) -> Option<&Endpoint> {
        self.lineage(her).find_map(|p| p.callback.as_ref())
    }

    /// Whether a message of type `msg_type` (list 8279) in `version` can be
    /// delivered to `her`: it is reachable and (with inheritance) accepts it.
    pub fn accepts(&self, her: &str, msg_type: &str, version: &str) -> bool {
        self.route(her).is_some()
            && self.effective_accepts(her).is_some_and(|list| {
                list.iter().any(|a| {
                    a.msg_type == msg_type.trim() && a.versions.iter().any(|v| v == version.trim())
                })
            })
    }
}

fn invalid(mut problems: Vec<Problem>) -> RegistryError {
    problems.sort_by_key(|p| p.line);
    RegistryError::Invalid(problems)
}

/// A span at the start of a line (for problems without a field of their own).
fn line_span(text: &str, line: usize) -> Range<usize> {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset..offset;
        }
        offset += l.len();
    }
    offset..offset
}

/// Checks one party's own fields; `None` when any is wrong (the problems
/// are in `ck`).
fn check_party(
    ck: &mut Check<'_>,
    spec: &PartySpec,
    her: &str,
    line: usize,
    lists: &overgang_codelists::CodeLists,
) -> Option<Party> {
    let before = ck.problems.len();
    let name = spec.name.get_ref().trim().to_owned();
    if name.is_empty() {
        ck.add(spec.name.span(), her, "name", "name is empty".into());
    }
    let kind = Kind::parse(spec.kind.get_ref().trim());
    if kind.is_none() {
        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        ck.add(
            spec.kind.span(),
            her,
            "kind",
            format!(
                "kind {:?} is not one of {}",
                spec.kind.get_ref(),
                all.join(", ")
            ),
        );
    }
    let parent = spec.parent.as_ref().map(|p| p.get_ref().trim().to_owned());
    match (&spec.parent, &parent, kind) {
        (Some(sp), Some(p), _) if !is_her_id(p) => ck.add(
            sp.span(),
            her,
            "parent",
            format!("parent {p:?} is not a HER-id (1 to 10 digits)"),
        ),
        (Some(sp), Some(_), Some(Kind::Organisation)) => ck.add(
            sp.span(),
            her,
            "parent",
            "an organisation is level 1 and has no parent".into(),
        ),
        (None, _, Some(k)) if k != Kind::Organisation => ck.add(
            spec.her.span(),
            her,
            "parent",
            format!("a {k} must name its parent (the organisation or service it belongs to)"),
        ),
        _ => {}
    }
    let municipality = spec
        .municipality
        .as_ref()
        .map(|m| m.get_ref().trim().to_owned());
    if let (Some(sm), Some(m)) = (&spec.municipality, &municipality) {
        if !is_municipality_number(m) {
            ck.add(
                sm.span(),
                her,
                "municipality",
                format!("municipality {m:?} is not a municipality number (4 digits)"),
            );
        }
    }
    let endpoint = spec.endpoint.as_ref().and_then(|e| {
        parse_endpoint(e.get_ref())
            .map_err(|why| ck.add(e.span(), her, "endpoint", format!("endpoint {why}")))
            .ok()
    });
    let callback = spec.callback.as_ref().and_then(|e| {
        parse_endpoint(e.get_ref())
            .map_err(|why| ck.add(e.span(), her, "callback", format!("callback {why}")))
            .ok()
    });
    let auth = spec
        .auth
        .as_ref()
        .and_then(|a| check_auth(ck, a, her, spec.endpoint.is_some()));
    let accepts = spec
        .accepts
        .as_ref()
        .map(|a| check_accepts(ck, a, her, lists));
    if spec.endpoint.is_some() && spec.accepts.is_none() {
        let span = spec.endpoint.as_ref().map(|e| e.span()).unwrap_or(0..0);
        ck.add(
            span,
            her,
            "accepts",
            "a party with its own endpoint must say what it accepts (accepts = [...])".into(),
        );
    }
    if ck.problems.len() > before {
        return None;
    }
    Some(Party {
        her: her.to_owned(),
        name,
        kind: kind?,
        parent,
        municipality,
        endpoint,
        auth,
        accepts,
        callback,
        line,
    })
}

fn check_auth(
    ck: &mut Check<'_>,
    spec: &Spanned<AuthSpec>,
    her: &str,
    has_endpoint: bool,
) -> Option<Auth> {
    let a = spec.get_ref();
    let before = ck.problems.len();
    if !has_endpoint {
        ck.add(
            spec.span(),
            her,
            "auth",
            "auth belongs to the party's own endpoint, and this party has none (it inherits its parent's endpoint and auth)".into(),
        );
    }
    let path = |ck: &mut Check<'_>, field: &'static str, v: &Option<Spanned<String>>| {
        let v = v.as_ref()?;
        let s = v.get_ref();
        let what = if s.trim().is_empty() {
            Some(format!("auth.{field} is empty"))
        } else if s.contains("-----BEGIN") || s.contains('\n') {
            Some(format!(
                "auth.{field} holds PEM text, not a file path; put it in a file and name the file"
            ))
        } else if field == "bearer_token_file" && looks_like_token(s) {
            Some(
                "auth.bearer_token_file looks like a token, not a file path; put the token in a file and name the file".into(),
            )
        } else {
            None
        };
        match what {
            Some(w) => {
                ck.add(v.span(), her, "auth", w);
                None
            }
            None => Some(s.trim().to_owned()),
        }
    };
    let client_cert = path(ck, "client_cert", &a.client_cert);
    let client_key = path(ck, "client_key", &a.client_key);
    let bearer_token_file = path(ck, "bearer_token_file", &a.bearer_token_file);
    if a.client_cert.is_some() != a.client_key.is_some() {
        ck.add(
            spec.span(),
            her,
            "auth",
            "auth.client_cert and auth.client_key come together".into(),
        );
    }
    if a.client_cert.is_none() && a.client_key.is_none() && a.bearer_token_file.is_none() {
        ck.add(
            spec.span(),
            her,
            "auth",
            "auth names no secret file (client_cert + client_key, and/or bearer_token_file)".into(),
        );
    }
    if ck.problems.len() > before {
        return None;
    }
    Some(Auth {
        client_cert,
        client_key,
        bearer_token_file,
    })
}

/// A bearer token written where a file name belongs: `Bearer …`, or a JWT.
fn looks_like_token(s: &str) -> bool {
    let s = s.trim();
    s.to_ascii_lowercase().starts_with("bearer ")
        || (s.starts_with("eyJ") && s.matches('.').count() == 2 && !s.contains('/'))
}

fn check_accepts(
    ck: &mut Check<'_>,
    spec: &Spanned<Vec<Spanned<AcceptSpec>>>,
    her: &str,
    lists: &overgang_codelists::CodeLists,
) -> Vec<Accept> {
    let mut out: Vec<Accept> = Vec::new();
    for a in spec.get_ref() {
        let a = a.get_ref();
        let t = a.msg_type.get_ref().trim();
        if !lists.contains(8279, t) {
            ck.add(
                a.msg_type.span(),
                her,
                "accepts",
                format!("accepts: {t:?} is not a message type (code list 8279, e.g. INNLEGGELSESRAPPORT)"),
            );
            continue;
        }
        if out.iter().any(|o| o.msg_type == t) {
            ck.add(
                a.msg_type.span(),
                her,
                "accepts",
                format!("accepts: {t} is listed twice; list all its versions in one entry"),
            );
            continue;
        }
        let versions: Vec<String> = a
            .versions
            .get_ref()
            .iter()
            .map(|v| v.trim().to_owned())
            .collect();
        if versions.is_empty() {
            ck.add(
                a.versions.span(),
                her,
                "accepts",
                format!("accepts: {t} lists no versions (e.g. versions = [\"1.6\"])"),
            );
            continue;
        }
        if let Some(v) = versions.iter().find(|v| !is_version(v)) {
            ck.add(
                a.versions.span(),
                her,
                "accepts",
                format!("accepts: {t}: version {v:?} is not a version number (e.g. \"1.6\")"),
            );
            continue;
        }
        out.push(Accept {
            msg_type: t.to_owned(),
            versions,
        });
    }
    out
}

#[cfg(test)]
mod tests;
