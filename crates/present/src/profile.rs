//! The functional profile: per IPLOS variable, the habitual and the current
//! level side by side.

use crate::format::{date_in_text, norwegian_date};
use crate::Lang;
use maud::{html, Markup};
use overgang_codelists::CodeLists;
use overgang_model::{Message, ProfileAssessment};

/// IPLOS variables (list 9111): code, name in bokmål (the list's display
/// name, used when the code lists at hand lack it) and in English (ours).
const VARIABLES: [(u8, &str, &str); 18] = [
    (1, "Sosial deltakelse", "Social participation"),
    (
        2,
        "Skaffe seg varer og tjenester",
        "Getting goods and services",
    ),
    (3, "Beslutninger i dagliglivet", "Decisions in daily life"),
    (4, "Ivareta egen helse", "Looking after own health"),
    (5, "Bevege seg innendørs", "Moving about indoors"),
    (6, "Alminnelig husarbeid", "Ordinary housework"),
    (7, "Personlig hygiene", "Personal hygiene"),
    (8, "På- og avkledning", "Dressing and undressing"),
    (9, "Lage mat", "Cooking"),
    (10, "Spise", "Eating"),
    (11, "Toalett", "Using the toilet"),
    (12, "Bevege seg utendørs", "Moving about outdoors"),
    (13, "Syn", "Vision"),
    (14, "Hørsel", "Hearing"),
    (15, "Hukommelse", "Memory"),
    (16, "Kommunikasjon", "Communication"),
    (17, "Styre atferd", "Managing own behaviour"),
    (18, "Ivareta egen økonomi", "Managing own finances"),
];

/// What an IPLOS score means, in our own words. Our code lists have no
/// list for the scale, so this small legend is built in.
pub fn score_meaning(score: u8, lang: Lang) -> Option<&'static str> {
    let (nb, en) = match score {
        1 => ("klarer seg selv", "manages without help"),
        2 => (
            "klarer seg, men med noe besvær",
            "manages, with some difficulty",
        ),
        3 => ("trenger noe hjelp", "needs some help"),
        4 => ("trenger mye hjelp", "needs a lot of help"),
        5 => ("trenger full hjelp", "fully dependent on help"),
        9 => ("ikke relevant", "not relevant"),
        _ => return None,
    };
    Some(match lang {
        Lang::Nb => nb,
        Lang::En => en,
    })
}

/// The scores of the scale, in order.
const SCALE: [u8; 6] = [1, 2, 3, 4, 5, 9];

/// One row per IPLOS variable 1–18.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProfileTable {
    pub rows: Vec<ProfileRow>,
    /// Whether the table has the "expected at discharge" column (set by
    /// [`ProfileTable::with_expected`]; the message alone cannot tell).
    pub shows_expected: bool,
}

/// A level of one IPLOS variable from another message than the one shown:
/// a derived habitual level, or the level at discharge.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OtherLevel {
    /// List 9111, 1–18.
    pub variable: u8,
    pub score: Option<i64>,
    /// `YYYY-MM-DD` (or as written), when known.
    pub date: Option<String>,
    /// The gateway id of the message it comes from.
    pub source_message_id: String,
}

impl ProfileTable {
    /// An empty table: all 18 variables, no levels. For a message without
    /// a profile of its own when levels from other messages are to be shown.
    pub fn blank(codes: &CodeLists) -> ProfileTable {
        ProfileTable {
            rows: VARIABLES
                .iter()
                .map(|&(code, nb, en)| ProfileRow {
                    code,
                    name_nb: codes
                        .display(9111, &code.to_string())
                        .unwrap_or(nb)
                        .to_owned(),
                    name_en: en.to_owned(),
                    ..ProfileRow::default()
                })
                .collect(),
            shows_expected: false,
        }
    }

    /// Fills the habitual cells the message leaves empty with levels derived
    /// from the patient's earlier messages, each marked derived, dated and
    /// linked to its source message. A habitual level the message states
    /// (the Funksjonsprofil extension) wins.
    pub fn with_derived(mut self, levels: &[OtherLevel], lang: Lang) -> ProfileTable {
        for l in levels {
            if let Some(r) = self.rows.iter_mut().find(|r| r.code == l.variable) {
                if r.habitual.is_missing() && l.score.is_some() {
                    r.habitual = other_cell(
                        l,
                        t(
                            lang,
                            "utledet fra tidligere melding",
                            "derived from an earlier message",
                        ),
                        true,
                    );
                }
            }
        }
        self
    }

    /// Adds the "expected at discharge" column with the given levels (from
    /// the stay's discharge report; none leaves the column empty).
    pub fn with_expected(mut self, levels: &[OtherLevel], lang: Lang) -> ProfileTable {
        self.shows_expected = true;
        for l in levels {
            if let Some(r) = self.rows.iter_mut().find(|r| r.code == l.variable) {
                if l.score.is_some() {
                    r.expected =
                        other_cell(l, t(lang, "utskrivningsrapport", "discharge report"), false);
                }
            }
        }
        self
    }
}

fn other_cell(l: &OtherLevel, what: &str, derived: bool) -> ProfileCell {
    ProfileCell {
        score: l.score.map(|s| s.to_string()),
        on_scale: l.score.and_then(on_scale),
        date: date(l.date.as_deref()),
        source: Some(what.to_owned()),
        derived,
        link: Some(format!("/ui/messages/{}", l.source_message_id)),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProfileRow {
    /// The variable's code in list 9111 (1–18).
    pub code: u8,
    pub name_nb: String,
    pub name_en: String,
    /// The level before the illness or admission.
    pub habitual: ProfileCell,
    /// The level now.
    pub current: ProfileCell,
    /// The level expected (assessed) at discharge, from the stay's
    /// discharge report; shown when [`ProfileTable::shows_expected`].
    pub expected: ProfileCell,
}

impl ProfileRow {
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Nb => &self.name_nb,
            Lang::En => &self.name_en,
        }
    }
}

/// One assessment of one variable, or an empty cell when there is none.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProfileCell {
    /// The score as written; `None` when missing.
    pub score: Option<String>,
    /// The score when it is on the scale (1–5 or 9).
    pub on_scale: Option<u8>,
    /// When it was assessed, as `dd.mm.yyyy` (or as written in free text).
    pub date: Option<String>,
    /// Where the value comes from (document, assessor).
    pub source: Option<String>,
    /// Derived from history rather than stated in the message (habitual
    /// cell only; set by [`ProfileTable::with_derived`]).
    pub derived: bool,
    /// The page of the message the level comes from, when it is another
    /// message than the one shown.
    pub link: Option<String>,
}

impl ProfileCell {
    pub fn is_missing(&self) -> bool {
        self.score.is_none()
    }
}

fn t(lang: Lang, nb: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Nb => nb,
        Lang::En => en,
    }
}

fn on_scale(n: i64) -> Option<u8> {
    u8::try_from(n).ok().filter(|s| SCALE.contains(s))
}

fn date(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    if s.is_empty() {
        return None;
    }
    Some(norwegian_date(s).unwrap_or_else(|| s.to_owned()))
}

fn extension_cell(a: &ProfileAssessment, lang: Lang) -> ProfileCell {
    let doc = t(lang, "Funksjonsprofil", "Functional profile");
    let who = a
        .assessed_by
        .expose()
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let role = a
        .assessor_role
        .expose()
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let source = match (who, role) {
        (Some(w), Some(r)) => format!("{doc} · {w} ({r})"),
        (Some(w), None) => format!("{doc} · {w}"),
        (None, Some(r)) => format!("{doc} · {r}"),
        (None, None) => doc.to_owned(),
    };
    let score = a
        .score_raw
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    ProfileCell {
        score: score.map(str::to_owned),
        on_scale: a.score_on_scale(),
        date: date(a.date.as_deref()),
        source: Some(source),
        derived: false,
        link: None,
    }
}

/// The profile of a message: from the Funksjonsprofil extension (habitual
/// and current) and the PLO document's IPLOS assessments (current only;
/// the extension's current value wins when both have one). `None` when the
/// message has neither.
pub(crate) fn build(
    msg: &Message,
    codes: &CodeLists,
    lang: Lang,
    doc_title: &str,
) -> Option<ProfileTable> {
    let assessments = msg
        .plo
        .as_ref()
        .map(|p| p.functional_assessments.as_slice())
        .unwrap_or(&[]);
    let has_plo = assessments.iter().any(|a| !a.functions.is_empty());
    let ext = msg.functional_profile.as_ref();
    if ext.is_none() && !has_plo {
        return None;
    }
    let plo_source = format!("{doc_title} (IPLOS)");
    let rows = VARIABLES
        .iter()
        .map(|&(code, nb, en)| {
            let var = ext.and_then(|p| p.variables.iter().find(|v| v.number() == Some(code)));
            let habitual = var
                .and_then(|v| v.habitual.as_ref())
                .map(|a| extension_cell(a, lang))
                .unwrap_or_default();
            let mut current = var
                .and_then(|v| v.current.as_ref())
                .map(|a| extension_cell(a, lang))
                .unwrap_or_default();
            if current.is_missing() {
                let found = assessments.iter().find_map(|a| {
                    a.functions
                        .iter()
                        .find(|f| {
                            f.variable_code().and_then(|c| c.trim().parse::<u8>().ok())
                                == Some(code)
                        })
                        .map(|f| (a, f))
                });
                if let Some((a, f)) = found {
                    let overall_date = a
                        .overall
                        .as_ref()
                        .and_then(|o| o.comment.expose().as_deref())
                        .and_then(date_in_text);
                    current = ProfileCell {
                        score: f
                            .score_raw
                            .as_deref()
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        on_scale: f.score.and_then(on_scale),
                        date: date(f.date.as_deref()).or(overall_date),
                        source: Some(plo_source.clone()),
                        derived: false,
                        link: None,
                    };
                }
            }
            ProfileRow {
                code,
                name_nb: codes
                    .display(9111, &code.to_string())
                    .unwrap_or(nb)
                    .to_owned(),
                name_en: en.to_owned(),
                habitual,
                current,
                expected: ProfileCell::default(),
            }
        })
        .collect();
    Some(ProfileTable {
        rows,
        shows_expected: false,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Habitual,
    Current,
    Expected,
}

fn cell_html(c: &ProfileCell, lang: Lang, column: Column) -> Markup {
    let Some(score) = c.score.as_deref() else {
        return if column == Column::Expected {
            html! { td.cell.missing { span.muted { "–" } } }
        } else if column == Column::Habitual {
            html! { td.cell.missing.sev-warning { span.badge.badge-warn { (t(lang, "mangler", "missing")) } } }
        } else {
            html! { td.cell.missing { span.muted { (t(lang, "ikke kartlagt", "not assessed")) } } }
        };
    };
    let meaning = c.on_scale.and_then(|s| score_meaning(s, lang));
    let date = c.date.as_deref();
    let source = c.source.as_deref();
    html! {
        td.cell class=[c.on_scale.is_none().then_some("sev-warning")] {
            span.score { (score) }
            @if let Some(m) = meaning {
                " " span.score-meaning { "– " (m) }
            } @else {
                " " span.badge.badge-warn { (t(lang, "utenfor skalaen", "off the scale")) }
            }
            @if c.derived {
                " " span.badge.derived title=(t(lang, "Utledet fra en tidligere kartlegging, ikke oppgitt som habituelt", "Derived from an earlier assessment, not stated as habitual")) { (t(lang, "utledet", "derived")) }
            }
            @if date.is_some() || source.is_some() {
                span.cell-meta {
                    @if let Some(d) = date { (d) }
                    @if date.is_some() && source.is_some() { " · " }
                    @if let Some(s) = source {
                        @if let Some(href) = &c.link { a href=(href) { (s) } } @else { (s) }
                    }
                }
            }
        }
    }
}

fn change_html(r: &ProfileRow, lang: Lang) -> Markup {
    let (Some(h), Some(c)) = (r.habitual.on_scale, r.current.on_scale) else {
        return html! { td.change { span.muted { "—" } } };
    };
    if h == 9 || c == 9 {
        return html! { td.change { span.muted { "—" } } };
    }
    let d = i16::from(c) - i16::from(h);
    match d {
        0 => html! { td.change { (t(lang, "uendret", "unchanged")) } },
        d if d > 0 => html! {
            td.change.worse { "+" (d) " " span.muted { (t(lang, "(mer hjelp)", "(more help)")) } }
        },
        d => html! {
            td.change.better { "−" (d.unsigned_abs()) " " span.muted { (t(lang, "(mindre hjelp)", "(less help)")) } }
        },
    }
}

/// The profile as a table with a legend of the scale.
pub fn profile_html(p: &ProfileTable, lang: Lang) -> Markup {
    html! {
        div.profile {
            div.table-wrap {
                table.data.profile-table {
                    caption { (t(lang, "Funksjonsprofil (IPLOS)", "Functional profile (IPLOS)")) }
                    thead {
                        tr {
                            th scope="col" { (t(lang, "Funksjon", "Function")) }
                            th scope="col" { (t(lang, "Habituelt nivå", "Habitual level")) }
                            th scope="col" { (t(lang, "Aktuelt nivå", "Current level")) }
                            @if p.shows_expected {
                                th scope="col" { (t(lang, "Ved utskrivning", "At discharge")) }
                            }
                            th scope="col" { (t(lang, "Endring", "Change")) }
                        }
                    }
                    tbody {
                        @for r in &p.rows {
                            tr id=(format!("iplos-{}", r.code)) {
                                th scope="row" { span.code { (r.code) } " " (r.name(lang)) }
                                (cell_html(&r.habitual, lang, Column::Habitual))
                                (cell_html(&r.current, lang, Column::Current))
                                @if p.shows_expected {
                                    (cell_html(&r.expected, lang, Column::Expected))
                                }
                                (change_html(r, lang))
                            }
                        }
                    }
                }
            }
            dl.legend {
                @for s in SCALE {
                    div {
                        dt { (s) }
                        dd { (score_meaning(s, lang).unwrap_or("")) }
                    }
                }
            }
        }
    }
}
