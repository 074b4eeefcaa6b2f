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
    /// cell only; set by the patient-flow view, always false here).
    pub derived: bool,
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
            }
        })
        .collect();
    Some(ProfileTable { rows })
}

fn cell_html(c: &ProfileCell, lang: Lang, habitual: bool) -> Markup {
    let Some(score) = c.score.as_deref() else {
        return if habitual {
            html! { td.cell.missing.sev-warning { span.badge.badge-warn { (t(lang, "mangler", "missing")) } } }
        } else {
            html! { td.cell.missing { span.muted { (t(lang, "ikke kartlagt", "not assessed")) } } }
        };
    };
    let meaning = c.on_scale.and_then(|s| score_meaning(s, lang));
    let meta: Vec<&str> = [c.date.as_deref(), c.source.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    html! {
        td.cell class=[c.on_scale.is_none().then_some("sev-warning")] {
            span.score { (score) }
            @if let Some(m) = meaning {
                " " span.score-meaning { "– " (m) }
            } @else {
                " " span.badge.badge-warn { (t(lang, "utenfor skalaen", "off the scale")) }
            }
            @if c.derived {
                " " span.badge { (t(lang, "utledet", "derived")) }
            }
            @if !meta.is_empty() {
                span.cell-meta { (meta.join(" · ")) }
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
                            th scope="col" { (t(lang, "Endring", "Change")) }
                        }
                    }
                    tbody {
                        @for r in &p.rows {
                            tr id=(format!("iplos-{}", r.code)) {
                                th scope="row" { span.code { (r.code) } " " (r.name(lang)) }
                                (cell_html(&r.habitual, lang, true))
                                (cell_html(&r.current, lang, false))
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
