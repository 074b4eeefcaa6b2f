//! The clinical document: sections, definition lists and tables, with the
//! findings shown where they point.

use crate::format::{is_multiline, norwegian_date, one_line, tele_address, text_block};
use crate::{ids, score_meaning, Labels, Lang};
use maud::{html, Markup};
use overgang_codelists::{list_number_of_oid, CodeLists};
use overgang_model::{Finding, Severity};
use overgang_xml::{Document, Node};
use std::collections::{HashMap, HashSet};

/// Nesting deeper than this is shown as a flat list (hostile input; PLO
/// nests about 15 deep).
const MAX_NESTING: usize = 32;
/// A run of repeated flat elements with more distinct children than this is
/// shown as sections rather than a table.
const MAX_TABLE_COLUMNS: usize = 10;
/// At most this many elements get a place of their own; the rest of a
/// larger document is left out with a note (real PLO documents have a few
/// hundred; this keeps a hostile one from making an enormous page).
const MAX_SHOWN: usize = 20_000;
/// The EPJ metadata namespace (`m1:informasjonskategori`).
const EPJ_META_NS: &str = "http://www.kith.no/xmlstds/epj/meta/2008-02-20";

pub(crate) struct Renderer<'a, 'd> {
    pub doc: &'d Document,
    pub codes: &'a CodeLists,
    pub labels: &'a Labels,
    pub lang: Lang,
    pub findings: &'a [Finding],
    /// Element id → the findings shown at it.
    pub marks: HashMap<u32, Vec<usize>>,
    /// Element id → its html id, for every element given one.
    pub ids: HashMap<u32, String>,
    used: HashSet<String>,
    /// How many more elements may be given a place.
    budget: usize,
}

/// How a child element is shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Leaf,
    Medication,
    Relative,
    Event,
    Journal,
    Complex,
}

/// Small groups shown on one line, like a leaf.
fn is_compact(n: Node<'_>) -> bool {
    matches!(n.name(), "Ident" | "TeleCom" | "Address") && is_flat(n)
}

fn kind(n: Node<'_>) -> Kind {
    if !n.has_children() || is_compact(n) {
        return Kind::Leaf;
    }
    match n.name() {
        "Legemiddelinfo" | "AdmAvHelsepersonell" => Kind::Medication,
        "ParorendeForesatt" => Kind::Relative,
        "TidsfestetHendelse" => Kind::Event,
        "OpplysningOpphold" if n.children().all(|c| c.name() == "TidsfestetHendelse") => {
            Kind::Event
        }
        "Journaltekst" => Kind::Journal,
        _ => Kind::Complex,
    }
}

fn is_flat(n: Node<'_>) -> bool {
    n.has_children() && n.children().all(|c| !c.has_children())
}

/// The element's descendants (not itself) with their ids, in document order.
fn subtree<'d>(n: Node<'d>, id: &str, out: &mut Vec<(Node<'d>, String)>) {
    for (c, cid) in ids::child_ids(n, id) {
        out.push((c, cid.clone()));
        subtree(c, &cid, out);
    }
}

fn is_within(n: Node<'_>, ancestor: Node<'_>) -> bool {
    let mut cur = Some(n);
    while let Some(c) = cur {
        if c.id() == ancestor.id() {
            return true;
        }
        cur = c.parent();
    }
    false
}

/// `h2`…`h6` by nesting level.
fn heading_tag(level: usize, text: &str) -> Markup {
    match level {
        0..=2 => html! { h2 { (text) } },
        3 => html! { h3 { (text) } },
        4 => html! { h4 { (text) } },
        5 => html! { h5 { (text) } },
        _ => html! { h6 { (text) } },
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn coded_markup(display: Option<&str>, code: &str) -> Markup {
    html! {
        span.coded {
            @if let Some(d) = display {
                (d) " " span.code { "(" (code) ")" }
            } @else {
                (code)
            }
        }
    }
}

impl<'a, 'd> Renderer<'a, 'd> {
    pub fn new(
        doc: &'d Document,
        codes: &'a CodeLists,
        labels: &'a Labels,
        lang: Lang,
        findings: &'a [Finding],
        marks: HashMap<u32, Vec<usize>>,
    ) -> Self {
        Renderer {
            doc,
            codes,
            labels,
            lang,
            findings,
            marks,
            ids: HashMap::new(),
            used: HashSet::new(),
            budget: MAX_SHOWN,
        }
    }

    pub fn t(&self, nb: &'static str, en: &'static str) -> &'static str {
        match self.lang {
            Lang::Nb => nb,
            Lang::En => en,
        }
    }

    fn label(&self, n: Node<'_>) -> String {
        self.labels.heading(n.name(), self.lang)
    }

    /// Gives `n` its html id (made unique if two elements share a path, which
    /// only same-named siblings in different namespaces can).
    pub fn register(&mut self, n: Node<'_>, id: &str) -> String {
        let mut id = id.to_owned();
        if self.used.contains(&id) {
            id = format!("{id}_n{}", n.id());
        }
        self.used.insert(id.clone());
        self.ids.insert(n.id(), id.clone());
        self.budget = self.budget.saturating_sub(1);
        id
    }

    /// ` has-finding sev-…` for an element with findings, else empty.
    pub fn finding_class(&self, n: Node<'_>) -> &'static str {
        let worst = self
            .marks
            .get(&n.id())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.findings.get(i))
            .map(|f| f.severity)
            .max();
        match worst {
            Some(Severity::Error) => " has-finding sev-error",
            Some(Severity::Warning) => " has-finding sev-warning",
            Some(Severity::Info) => " has-finding sev-info",
            None => "",
        }
    }

    /// The inline markers of the findings shown at `n`.
    pub fn markers(&self, n: Node<'_>) -> Markup {
        let list: Vec<&Finding> = self
            .marks
            .get(&n.id())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.findings.get(i))
            .collect();
        html! {
            @for f in list {
                span class=(format!("finding-marker sev-{}", f.severity.as_str())) role="note" {
                    span.finding-code { (f.code) }
                    " "
                    span.finding-text { (f.text(self.lang)) }
                }
            }
        }
    }

    /// True when a finding is shown at `n` or inside it.
    pub fn has_marks_within(&self, n: Node<'_>) -> bool {
        self.marks
            .keys()
            .filter_map(|&id| self.doc.node(id))
            .any(|m| is_within(m, n))
    }

    fn section_heading(&self, n: Node<'_>) -> String {
        let label = self.label(n);
        match n.attr_ns(EPJ_META_NS, "informasjonskategori").map(one_line) {
            Some(cat) if n.name() == "GenereltJournalnotat" && !cat.is_empty() => {
                format!("{label}: {cat}")
            }
            _ => label,
        }
    }

    // ---- values -------------------------------------------------------

    /// A coded value (`V` with `DN` and/or `S`, or a `V` on an element the
    /// labels tie to a code list): the code list's display name, else `DN`,
    /// else `OT`, with the code in small print.
    fn coded(&self, n: Node<'_>) -> Option<Markup> {
        let v = nonempty(n.attr("V"));
        let dn = nonempty(n.attr("DN"));
        let ot = nonempty(n.attr("OT"));
        let s = nonempty(n.attr("S"));
        let list = s
            .and_then(list_number_of_oid)
            .or_else(|| self.labels.list_of(n.name()));
        let Some(v) = v else {
            return dn.or(ot).map(|d| html! { span.coded { (d) } });
        };
        if dn.is_none() && ot.is_none() && s.is_none() && list.is_none() {
            return None;
        }
        let display = list.and_then(|l| self.codes.display(l, v)).or(dn).or(ot);
        Some(coded_markup(display, v))
    }

    /// A coded value's display text alone (list display, else `DN`, `OT`, `V`).
    fn coded_text(&self, n: Node<'_>) -> Option<String> {
        let v = nonempty(n.attr("V"));
        let list = nonempty(n.attr("S"))
            .and_then(list_number_of_oid)
            .or_else(|| self.labels.list_of(n.name()));
        list.zip(v)
            .and_then(|(l, v)| self.codes.display(l, v))
            .or(nonempty(n.attr("DN")))
            .or(nonempty(n.attr("OT")))
            .or(v)
            .map(one_line)
    }

    /// `Ident`, `TeleCom` or `Address` on one line.
    fn compact(&self, n: Node<'_>) -> Markup {
        let child = |name: &str| n.children().find(|c| c.name() == name);
        let text = |name: &str| {
            child(name)
                .map(|c| one_line(c.text()))
                .filter(|s| !s.is_empty())
        };
        match n.name() {
            "Ident" => {
                let id = text("Id");
                let kind = child("TypeId").and_then(|c| self.coded_text(c));
                html! {
                    @if let Some(i) = id { (i) }
                    @if let Some(k) = kind { " " span.code { "(" (k) ")" } }
                }
            }
            "TeleCom" => {
                let nr = child("TeleAddress")
                    .and_then(|c| nonempty(c.attr("V")).or(nonempty(Some(c.text()))));
                let kind = child("TypeTelecom").and_then(|c| self.coded_text(c));
                html! {
                    @if let Some(v) = nr { (tele_address(v)) }
                    @if let Some(k) = kind { " " span.code { "(" (k) ")" } }
                }
            }
            _ => {
                let postal = match (text("PostalCode"), text("City")) {
                    (Some(p), Some(c)) => Some(format!("{p} {c}")),
                    (p, c) => p.or(c),
                };
                let line: Vec<String> = [
                    text("StreetAdr"),
                    text("PostBox"),
                    postal,
                    text("County"),
                    text("Country"),
                ]
                .into_iter()
                .flatten()
                .collect();
                let kind = child("Type").and_then(|c| self.coded_text(c));
                html! {
                    (line.join(", "))
                    @if let Some(k) = kind { " " span.code { "(" (k) ")" } }
                }
            }
        }
    }

    fn yes_no(&self, t: &str) -> Option<&'static str> {
        match t {
            "true" => Some(self.t("Ja", "Yes")),
            "false" => Some(self.t("Nei", "No")),
            _ => None,
        }
    }

    /// What a leaf element shows.
    fn value(&self, n: Node<'_>) -> Markup {
        if n.has_children() {
            return self.compact(n);
        }
        if let Some(m) = self.coded(n) {
            return m;
        }
        if let Some(v) = n.attr("V").map(str::trim) {
            if let Some(u) = n.attr("U").map(str::trim).filter(|u| !u.is_empty()) {
                return html! { (v) " " (u) };
            }
            if let Some(d) = norwegian_date(v) {
                return html! { time datetime=(v) { (d) } };
            }
            if n.name() == "TeleAddress" {
                return html! { (tele_address(v)) };
            }
            return html! { (v) };
        }
        let text = n.text();
        let t = text.trim();
        if t.is_empty() {
            return html! { span.empty { "—" } };
        }
        if let Some(yn) = self.yes_no(t) {
            return html! { (yn) };
        }
        if let Some(d) = norwegian_date(t) {
            return html! { time datetime=(t) { (d) } };
        }
        if let Some(list) = self.labels.list_of(n.name()) {
            if let Some(d) = self.codes.display(list, t) {
                return coded_markup(Some(d), t);
            }
        }
        if n.name() == "Vurdering"
            && n.parent()
                .is_some_and(|p| matches!(p.name(), "KartlagtFunksjon" | "Habituell" | "Aktuell"))
        {
            if let Some(m) = t
                .parse::<u8>()
                .ok()
                .and_then(|s| score_meaning(s, self.lang))
            {
                return html! { span.score { (t) } " " span.score-meaning { "– " (m) } };
            }
        }
        if is_multiline(text) {
            text_block(text)
        } else {
            html! { (one_line(t)) }
        }
    }

    /// A value in a table cell or line: a span with the element's id.
    fn inline(&mut self, n: Node<'_>, id: &str, content: Markup) -> Markup {
        let hid = self.register(n, id);
        let cls = self.finding_class(n);
        html! {
            span class=(format!("item{cls}")) id=(hid) { (content) (self.markers(n)) }
        }
    }

    /// `label: value` for the leftovers of a table row.
    fn labelled_inline(&mut self, n: Node<'_>, id: &str) -> Markup {
        let label = self.label(n);
        let value = self.value(n);
        self.inline(n, id, html! { span.item-label { (label) ": " } (value) })
    }

    // ---- structure ----------------------------------------------------

    /// An element with element children as a section.
    pub fn section(&mut self, n: Node<'_>, id: &str, level: usize) -> Markup {
        let hid = self.register(n, id);
        let cls = self.finding_class(n);
        let heading = self.section_heading(n);
        let body = if level > MAX_NESTING {
            self.flat_leaves(n)
        } else {
            self.children(n, id, level + 1)
        };
        html! {
            section class=(format!("doc-section{cls}")) id=(hid) {
                (heading_tag(level, &heading))
                (self.markers(n))
                (body)
            }
        }
    }

    /// The children of `parent`, grouped: runs of leaves as one definition
    /// list, medications, relatives and events as tables, journal texts as
    /// paragraphs, runs of flat repeated elements as a table, the rest as
    /// sections.
    pub fn children(&mut self, parent: Node<'_>, parent_id: &str, level: usize) -> Markup {
        let kids = ids::child_ids(parent, parent_id);
        let mut parts: Vec<Markup> = Vec::new();
        let mut truncated = false;
        let mut i = 0;
        while i < kids.len() {
            if self.budget == 0 {
                truncated = true;
                break;
            }
            let (first, _) = kids[i];
            let k = kind(first);
            let mut j = i + 1;
            while j < kids.len() {
                let n = kids[j].0;
                let same = kind(n) == k
                    && (matches!(k, Kind::Leaf | Kind::Event)
                        || (n.name() == first.name() && n.ns_index() == first.ns_index()));
                if !same {
                    break;
                }
                j += 1;
            }
            let end = j.min(i.saturating_add(self.budget));
            truncated |= end < j;
            let run = &kids[i..end];
            let part = match k {
                Kind::Leaf => self.fields(run),
                Kind::Medication => self.medication_table(run),
                Kind::Relative => self.relatives_table(run),
                Kind::Event => self.events_table(run),
                Kind::Journal => {
                    let mut m = Vec::new();
                    for (n, id) in run {
                        m.push(self.journal(*n, id, level));
                    }
                    html! { @for x in m { (x) } }
                }
                Kind::Complex => self.complex_run(run, level),
            };
            parts.push(part);
            i = j;
        }
        let note = self.t(
            "Resten av dokumentet er for stort til å vises her.",
            "The rest of the document is too large to show here.",
        );
        html! {
            @for p in parts { (p) }
            @if truncated { p.truncated.sev-warning { (note) } }
        }
    }

    fn complex_run(&mut self, run: &[(Node<'_>, String)], level: usize) -> Markup {
        if run.len() >= 2 && run.iter().all(|(n, _)| is_flat(*n)) {
            let mut cols: Vec<&str> = Vec::new();
            for (n, _) in run {
                for c in n.children() {
                    if !cols.contains(&c.name()) {
                        cols.push(c.name());
                    }
                }
                if cols.len() > MAX_TABLE_COLUMNS {
                    break;
                }
            }
            if cols.len() <= MAX_TABLE_COLUMNS {
                return self.flat_table(run, &cols);
            }
        }
        let mut m = Vec::new();
        for (n, id) in run {
            m.push(self.section(*n, id, level));
        }
        html! { @for x in m { (x) } }
    }

    /// Leaves as a definition list.
    fn fields(&mut self, run: &[(Node<'_>, String)]) -> Markup {
        let mut rows = Vec::new();
        for (n, id) in run {
            rows.push(self.field(*n, id));
        }
        html! { dl.fields { @for r in rows { (r) } } }
    }

    fn field(&mut self, n: Node<'_>, id: &str) -> Markup {
        let hid = self.register(n, id);
        let cls = self.finding_class(n);
        let label = self.label(n);
        html! {
            div class=(format!("field{cls}")) id=(hid) {
                dt { (label) }
                dd { (self.value(n)) (self.markers(n)) }
            }
        }
    }

    /// Beyond [`MAX_NESTING`]: every leaf below, without ids (findings there
    /// show at the section).
    fn flat_leaves(&self, n: Node<'_>) -> Markup {
        let leaves: Vec<Node<'_>> = n
            .descendants()
            .skip(1)
            .filter(|d| !d.has_children())
            .collect();
        html! {
            dl.fields {
                @for d in leaves {
                    div.field { dt { (self.label(d)) } dd { (self.value(d)) } }
                }
            }
        }
    }

    /// A run of repeated elements with only leaf children as a table, one
    /// column per child name.
    fn flat_table(&mut self, run: &[(Node<'_>, String)], cols: &[&str]) -> Markup {
        let caption = run.first().map(|(n, _)| self.label(*n)).unwrap_or_default();
        let heads: Vec<String> = cols
            .iter()
            .map(|c| self.labels.heading(c, self.lang))
            .collect();
        let mut rows = Vec::new();
        for (n, id) in run {
            let hid = self.register(*n, id);
            let cls = self.finding_class(*n);
            let kids = ids::child_ids(*n, id);
            let mut cells = Vec::new();
            for col in cols {
                let mut items = Vec::new();
                for (c, cid) in kids.iter().filter(|(c, _)| c.name() == *col) {
                    let v = self.value(*c);
                    items.push(self.inline(*c, cid, v));
                }
                cells.push(items);
            }
            let marks = self.markers(*n);
            rows.push(html! {
                tr class=(format!("row{cls}")) id=(hid) {
                    @for (i, items) in cells.into_iter().enumerate() {
                        td {
                            @if i == 0 { (marks) }
                            @for it in items { (it) }
                        }
                    }
                }
            });
        }
        html! {
            div.table-wrap {
                table.data {
                    caption { (caption) }
                    thead { tr { @for h in heads { th scope="col" { (h) } } } }
                    tbody { @for r in rows { (r) } }
                }
            }
        }
    }

    /// Leaves of a table row that no column took, except `false` flags
    /// (they only say that something is not the case).
    fn leftovers(&mut self, sub: &[(Node<'_>, String)], taken: &HashSet<u32>) -> Vec<Markup> {
        let mut out = Vec::new();
        for (d, id) in sub {
            if d.has_children() || taken.contains(&d.id()) {
                continue;
            }
            if d.ancestors_taken(taken) {
                continue;
            }
            let t = d.text().trim();
            if t == "false" || (t.is_empty() && d.attributes().next().is_none()) {
                continue;
            }
            out.push(self.labelled_inline(*d, id));
        }
        out
    }

    fn first<'s, 'n>(sub: &'s [(Node<'n>, String)], name: &str) -> Option<&'s (Node<'n>, String)> {
        sub.iter().find(|(d, _)| d.name() == name)
    }

    fn table(&self, caption: &str, heads: &[&str], rows: Vec<Markup>, class: &str) -> Markup {
        html! {
            div.table-wrap {
                table class=(format!("data {class}")) {
                    caption { (caption) }
                    thead { tr { @for h in heads { th scope="col" { (h) } } } }
                    tbody { @for r in rows { (r) } }
                }
            }
        }
    }

    fn row(&mut self, n: Node<'_>, id: &str, cells: Vec<Vec<Markup>>) -> Markup {
        let hid = self.register(n, id);
        let cls = self.finding_class(n);
        let marks = self.markers(n);
        html! {
            tr class=(format!("row{cls}")) id=(hid) {
                @for (i, items) in cells.into_iter().enumerate() {
                    td {
                        @if i == 0 { (marks) }
                        @for it in items { (it) }
                    }
                }
            }
        }
    }

    /// Takes the first element named `name` in the row into a cell.
    fn take(
        &mut self,
        sub: &[(Node<'_>, String)],
        taken: &mut HashSet<u32>,
        name: &str,
        cell: &mut Vec<Markup>,
    ) -> bool {
        let Some((d, id)) = Self::first(sub, name) else {
            return false;
        };
        taken.insert(d.id());
        let v = self.value(*d);
        cell.push(self.inline(*d, id, v));
        true
    }

    // ---- medications --------------------------------------------------

    fn medication_table(&mut self, run: &[(Node<'_>, String)]) -> Markup {
        let mut rows = Vec::new();
        for (n, id) in run {
            rows.push(self.medication_row(*n, id));
        }
        let caption = match run.first().map(|(n, _)| n.name()) {
            Some("AdmAvHelsepersonell") => self.t("Legemidler gitt", "Medication given"),
            _ => self.t("Legemidler", "Medication"),
        };
        let heads = [
            self.t("Legemiddel", "Medication"),
            self.t("Styrke og form", "Strength and form"),
            self.t("Dosering", "Dosage"),
            self.t("Bruk", "Use"),
            self.t("Periode", "Period"),
            self.t("Merknader", "Notes"),
        ];
        self.table(caption, &heads, rows, "medications")
    }

    fn medication_row(&mut self, n: Node<'_>, id: &str) -> Markup {
        let mut sub = Vec::new();
        subtree(n, id, &mut sub);
        let mut taken = HashSet::new();
        let mut name = Vec::new();
        self.take(&sub, &mut taken, "Navn", &mut name);
        if let Some((d, did)) = Self::first(&sub, "StatusTilForskrivningen") {
            taken.insert(d.id());
            let v = self.value(*d);
            let badge = html! { span.badge { (v) } };
            name.push(self.inline(*d, did, badge));
        }
        let mut strength = Vec::new();
        self.take(&sub, &mut taken, "Styrke", &mut strength);
        self.take(&sub, &mut taken, "Legemiddelform", &mut strength);
        let mut dosage = Vec::new();
        self.take(&sub, &mut taken, "DosVeiledEnkel", &mut dosage);
        let mut usage = Vec::new();
        self.take(&sub, &mut taken, "Bruk", &mut usage);
        let mut period = Vec::new();
        if !self.take(&sub, &mut taken, "DoseringStarttidspunkt", &mut period) {
            self.take(&sub, &mut taken, "AdmStart", &mut period);
        }
        let mut end = Vec::new();
        if self.take(&sub, &mut taken, "DoseringSluttidspunkt", &mut end) {
            let to = self.t("til", "to");
            period.push(html! { " " span.sep { (to) } " " });
            period.extend(end);
        }
        let mut notes = Vec::new();
        for (d, did) in sub
            .iter()
            .filter(|(d, _)| d.name() == "Merknad" && !d.has_children())
        {
            taken.insert(d.id());
            let v = self.value(*d);
            notes.push(self.inline(*d, did, v));
        }
        notes.extend(self.leftovers(&sub, &taken));
        self.row(n, id, vec![name, strength, dosage, usage, period, notes])
    }

    // ---- relatives ----------------------------------------------------

    fn relatives_table(&mut self, run: &[(Node<'_>, String)]) -> Markup {
        let mut rows = Vec::new();
        for (n, id) in run {
            rows.push(self.relative_row(*n, id));
        }
        let heads = [
            self.t("Navn", "Name"),
            self.t("Relasjon", "Relation"),
            self.t("Telefon", "Phone"),
            self.t("Omsorgsrolle", "Care role"),
            self.t("Merknader", "Notes"),
        ];
        let caption = self.t("Pårørende", "Next of kin");
        self.table(caption, &heads, rows, "relatives")
    }

    /// A `TeleCom` or `Address` whole in a cell; what is inside it is taken.
    fn whole(&mut self, n: Node<'_>, id: &str, taken: &mut HashSet<u32>, labelled: bool) -> Markup {
        for d in n.descendants() {
            taken.insert(d.id());
        }
        let v = self.compact(n);
        let label = self.label(n);
        self.inline(
            n,
            id,
            html! {
                @if labelled { span.item-label { (label) ": " } }
                (v)
            },
        )
    }

    fn relative_row(&mut self, n: Node<'_>, id: &str) -> Markup {
        let mut sub = Vec::new();
        subtree(n, id, &mut sub);
        let mut taken = HashSet::new();
        let mut name = Vec::new();
        for part in ["GivenName", "MiddleName", "FamilyName"] {
            if let Some((d, did)) = Self::first(&sub, part) {
                taken.insert(d.id());
                let v = html! { (one_line(d.text())) };
                name.push(self.inline(*d, did, v));
                name.push(html! { " " });
            }
        }
        let mut relation = Vec::new();
        self.take(&sub, &mut taken, "Slektskap", &mut relation);
        let mut phones = Vec::new();
        let telecoms: Vec<(Node<'_>, String)> = sub
            .iter()
            .filter(|(d, _)| d.name() == "TeleCom")
            .cloned()
            .collect();
        for (t, tid) in &telecoms {
            phones.push(self.whole(*t, tid, &mut taken, false));
        }
        let mut care = Vec::new();
        self.take(&sub, &mut taken, "Omsorgsfunksjon", &mut care);
        let mut notes = Vec::new();
        self.take(&sub, &mut taken, "Merknad", &mut notes);
        let addresses: Vec<(Node<'_>, String)> = sub
            .iter()
            .filter(|(d, _)| d.name() == "Address")
            .cloned()
            .collect();
        for (a, aid) in &addresses {
            notes.push(self.whole(*a, aid, &mut taken, true));
        }
        notes.extend(self.leftovers(&sub, &taken));
        self.row(n, id, vec![name, relation, phones, care, notes])
    }

    // ---- events -------------------------------------------------------

    fn events_table(&mut self, run: &[(Node<'_>, String)]) -> Markup {
        let mut rows = Vec::new();
        for (n, id) in run {
            rows.push(self.event_row(*n, id));
        }
        let heads = [
            self.t("Hendelse", "Event"),
            self.t("Tidspunkt", "Time"),
            self.t("Beskrivelse og merknad", "Description and comment"),
        ];
        let caption = self.t("Hendelser", "Events");
        self.table(caption, &heads, rows, "events")
    }

    fn event_row(&mut self, n: Node<'_>, id: &str) -> Markup {
        let mut sub = Vec::new();
        subtree(n, id, &mut sub);
        let mut taken = HashSet::new();
        let mut event = Vec::new();
        let mut described = Vec::new();
        if self.take(&sub, &mut taken, "Hendelsekode", &mut event) {
            self.take(&sub, &mut taken, "BeskrivelseAvHendelse", &mut described);
        } else {
            self.take(&sub, &mut taken, "BeskrivelseAvHendelse", &mut event);
        }
        let mut time = Vec::new();
        self.take(&sub, &mut taken, "TidspunktForHendelse", &mut time);
        if let Some((d, did)) = Self::first(&sub, "Anslag") {
            taken.insert(d.id());
            if d.text().trim() == "true" {
                let est = self.t("anslått", "estimated");
                time.push(html! { " " });
                time.push(self.inline(*d, did, html! { span.badge { (est) } }));
            }
        }
        self.take(&sub, &mut taken, "Merknad", &mut described);
        described.extend(self.leftovers(&sub, &taken));
        self.row(n, id, vec![event, time, described])
    }

    // ---- journal texts ------------------------------------------------

    fn journal(&mut self, n: Node<'_>, id: &str, level: usize) -> Markup {
        let hid = self.register(n, id);
        let cls = self.finding_class(n);
        let kids = ids::child_ids(n, id);
        let mut heading = None;
        let mut body = Vec::new();
        let mut rest: Vec<(Node<'_>, String)> = Vec::new();
        for (c, cid) in &kids {
            match c.name() {
                "Overskriftskode" if heading.is_none() && !c.has_children() => {
                    let v = self.value(*c);
                    heading = Some(self.inline(*c, cid, v));
                }
                "Notat" if !c.has_children() => {
                    let chid = self.register(*c, cid);
                    let ccls = self.finding_class(*c);
                    let text = c.text();
                    body.push(html! {
                        div class=(format!("note{ccls}")) id=(chid) {
                            (text_block(text))
                            (self.markers(*c))
                        }
                    });
                }
                _ => rest.push((*c, cid.clone())),
            }
        }
        let more = if rest.iter().all(|(c, _)| !c.has_children()) {
            if rest.is_empty() {
                html! {}
            } else {
                self.fields(&rest)
            }
        } else {
            let mut m = Vec::new();
            for (c, cid) in &rest {
                m.push(if c.has_children() {
                    self.section(*c, cid, level + 1)
                } else {
                    self.fields(std::slice::from_ref(&(*c, cid.clone())))
                });
            }
            html! { @for x in m { (x) } }
        };
        let fallback = self.label(n);
        let h = html! {
            @if let Some(h) = heading { (h) } @else { (fallback) }
        };
        html! {
            div class=(format!("journal-text{cls}")) id=(hid) {
                @match level {
                    0..=2 => h2.journal-heading { (h) },
                    3 => h3.journal-heading { (h) },
                    4 => h4.journal-heading { (h) },
                    5 => h5.journal-heading { (h) },
                    _ => h6.journal-heading { (h) },
                }
                (self.markers(n))
                @for b in body { (b) }
                (more)
            }
        }
    }
}

trait TakenAncestors {
    fn ancestors_taken(&self, taken: &HashSet<u32>) -> bool;
}

impl TakenAncestors for Node<'_> {
    /// True when an ancestor of this element was already placed in a cell
    /// (a `TeleCom` or `Address` shown whole).
    fn ancestors_taken(&self, taken: &HashSet<u32>) -> bool {
        let mut cur = self.parent();
        while let Some(p) = cur {
            if taken.contains(&p.id()) {
                return true;
            }
            cur = p.parent();
        }
        false
    }
}
