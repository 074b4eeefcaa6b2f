//! Patient flow in the gateway: each accepted message's flow fact, written
//! with the message at intake, and the flow (stays, overdue messages, the
//! discharge-ready board) computed from the stored facts on request by the
//! pure `overgang-flow` crate. docs/FLOW.md.

use overgang_model::Message;
use overgang_registry::{Kind, Registry};
use overgang_store::Store;

use crate::ServerError;

/// What the gateway knows of patient flow beside the store.
pub struct FlowState {
    pub config: overgang_flow::FlowConfig,
    /// See `config::FlowSettings::window_days`.
    pub window_days: u64,
    /// The last overdue counts of `/metrics` and when they were counted
    /// (`crate::flow_api::overdue_counts`).
    pub metrics_cache: std::sync::Mutex<Option<MetricsCount>>,
    /// A count for `/metrics` is under way (one at a time).
    pub metrics_counting: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// One count of the overdue items for `/metrics`.
#[derive(Clone, Debug)]
pub struct MetricsCount {
    /// The gateway's time the count is for.
    pub at: i64,
    /// How long the walk took (ms): the next waits ten times as long.
    pub took_ms: i64,
    pub counts: crate::metrics::FlowOverdue,
}

impl FlowState {
    pub fn new(config: overgang_flow::FlowConfig, window_days: u64) -> FlowState {
        FlowState {
            config,
            window_days,
            metrics_cache: std::sync::Mutex::new(None),
            metrics_counting: Default::default(),
        }
    }
}

/// Patients on a page at most when the whole flow is walked
/// ([`for_each_page`]); pages after the first are sized to hold about
/// [`FACTS_PER_PAGE`] facts.
const PATIENTS_PER_PAGE: u32 = 500;
/// Patients on the first page, before the histories' length is known.
const FIRST_PAGE_PATIENTS: u32 = 16;
/// About how many facts a page should hold: with long histories (the
/// soak gives 1 000 patients hundreds of messages each) pages of a fixed
/// number of patients would grow with the store.
const FACTS_PER_PAGE: usize = 10_000;

/// Walks the flow of every patient with facts in the window at `now`, a
/// page of patients at a time (each page's stays computed from that page's
/// facts alone, which is exact: a patient's stays depend only on their own
/// facts), so that memory is bounded by a page, not by the store. Facts
/// without a patient make no stay and are not read.
pub async fn for_each_page<S: Store>(
    store: &S,
    now: i64,
    window_days: u64,
    visit: impl FnMut(&overgang_flow::Flow),
) -> Result<(), overgang_store::StoreError> {
    for_each_page_of(store, now, window_days, PATIENTS_PER_PAGE, visit).await
}

/// [`for_each_page`] with pages of `patients` patients.
pub(crate) async fn for_each_page_of<S: Store>(
    store: &S,
    now: i64,
    window_days: u64,
    patients: u32,
    mut visit: impl FnMut(&overgang_flow::Flow),
) -> Result<(), overgang_store::StoreError> {
    let since = window_start(now, window_days);
    let mut after: Option<String> = None;
    // The first page is small: until one is read, nothing says how long
    // the histories are (500 patients of the soak held half the store).
    let mut size = patients.clamp(1, FIRST_PAGE_PATIENTS);
    loop {
        let rows = store.flow_facts_page(since, after.take(), size).await?;
        let Some(last) = rows.last().and_then(|r| r.patient_key.clone()) else {
            return Ok(());
        };
        after = Some(last);
        size = next_page_size(size, rows.len(), patients.max(1));
        // Reading the facts and building the stays is the walk's CPU work:
        // on a blocking thread, so the runtime's workers (intake) never
        // wait for a page.
        let flow = tokio::task::spawn_blocking(move || overgang_flow::stays(&decode(rows)))
            .await
            .map_err(|_| {
                overgang_store::StoreError::Database("the flow walk's page task failed".into())
            })?;
        visit(&flow);
    }
}

/// The next page's number of patients: this page's, scaled so that the
/// next holds about [`FACTS_PER_PAGE`] facts if patients are alike, at
/// least 1 and at most `most`.
fn next_page_size(size: u32, facts: usize, most: u32) -> u32 {
    let per_patient = (facts / size.max(1) as usize).max(1);
    u32::try_from(FACTS_PER_PAGE / per_patient)
        .unwrap_or(most)
        .clamp(1, most)
}

fn window_start(now: i64, window_days: u64) -> i64 {
    now.saturating_sub(
        i64::try_from(window_days)
            .unwrap_or(i64::MAX / 86_400_000)
            .saturating_mul(86_400_000),
    )
}

/// The stored rows as facts (a row whose JSON no longer reads is left out).
fn decode(rows: Vec<overgang_store::FlowFactRow>) -> Vec<overgang_flow::Fact> {
    rows.into_iter()
        .filter_map(|r| {
            let mut f: overgang_flow::Fact = serde_json::from_str(&r.fact).ok()?;
            f.positive_apprec_at = r.positive_apprec_at;
            Some(f)
        })
        .collect()
}

/// The flow rules Overgang ships (`config/flow.toml`).
pub const BUILTIN_RULES: &str = include_str!("../../../config/flow.toml");

/// Reads the flow rules: the configured file, or the built-in ones.
pub fn load_config(
    settings: &crate::config::FlowSettings,
) -> Result<overgang_flow::FlowConfig, ServerError> {
    let (place, text) = match &settings.file {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| ServerError::Config {
                place: p.display().to_string(),
                reason: e.to_string(),
            })?,
        ),
        None => (
            "the built-in flow rules".to_owned(),
            BUILTIN_RULES.to_owned(),
        ),
    };
    overgang_flow::FlowConfig::parse(&text).map_err(|e| ServerError::Config {
        place,
        reason: e.to_string(),
    })
}

/// The flow at `now`: the stays of the facts stored in the window (or of
/// one patient's facts), with each message's positive AppRec time.
pub async fn current<S: Store>(
    store: &S,
    now: i64,
    window_days: u64,
    patient_key: Option<String>,
) -> Result<(Vec<overgang_flow::Fact>, overgang_flow::Flow), overgang_store::StoreError> {
    let rows = store
        .flow_facts(window_start(now, window_days), patient_key)
        .await?;
    let facts = decode(rows);
    let flow = overgang_flow::stays(&facts);
    Ok((facts, flow))
}

/// The flow fact of an accepted message, as JSON: the municipalities from
/// the registry, whether a GP is among the receivers routing chose.
pub fn fact_json(
    registry: &Registry,
    message: &Message,
    message_id: &str,
    received_at: i64,
    patient_key: Option<String>,
    receivers: &[String],
) -> Option<String> {
    let municipality = |her: Option<&str>| {
        her.and_then(|h| registry.organisation(h))
            .and_then(|p| p.municipality.clone())
    };
    let is_gp = |her: &str| registry.get(her).is_some_and(|p| p.kind == Kind::Gp);
    let receiver_her = message.receiver().and_then(|r| r.most_specific_her_id());
    let input = overgang_flow::FactInput {
        message_id: message_id.to_owned(),
        received_at,
        patient_key,
        sender_municipality: municipality(message.sender().and_then(|s| s.her_id())),
        receiver_municipality: municipality(message.receiver().and_then(|r| r.her_id())),
        copy_to_gp: (!registry.is_empty()).then(|| receivers.iter().any(|h| is_gp(h))),
        receiver_is_gp: receiver_her.is_some_and(is_gp),
        positive_apprec_at: None,
    };
    serde_json::to_string(&overgang_flow::fact_of(message, input)).ok()
}

/// The stored facts as [`overgang_flow::Fact`]s, each with its positive
/// AppRec time; rows that do not read are left out.
pub fn facts_of_rows(rows: Vec<overgang_store::FlowFactRow>) -> Vec<overgang_flow::Fact> {
    rows.into_iter()
        .filter_map(|r| {
            let mut f: overgang_flow::Fact = serde_json::from_str(&r.fact).ok()?;
            f.positive_apprec_at = r.positive_apprec_at;
            Some(f)
        })
        .collect()
}

/// The functional levels around one message from the patient's other
/// messages: the derived habitual baseline and the level at discharge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageBaseline {
    /// The admission of the message's stay, or the message's receipt when
    /// no stay takes it.
    pub admitted_at: i64,
    /// The stay's id, when the message is in one.
    pub stay_id: Option<String>,
    /// Derived from the patient's messages outside the stay, dated before
    /// the admission and within the look-back.
    pub derived: Vec<overgang_flow::DerivedLevel>,
    /// The levels the stay's latest discharge report (`UTSKRIVNINGSRAPPORT`,
    /// not cancelled or replaced) assessed, with its message id; empty when
    /// the stay has none.
    pub at_discharge: Vec<overgang_flow::FactAssessment>,
    pub discharge_message_id: Option<String>,
}

impl MessageBaseline {
    /// The derived levels for the profile table.
    pub fn derived_levels(&self) -> Vec<overgang_present::OtherLevel> {
        self.derived
            .iter()
            .map(|d| overgang_present::OtherLevel {
                variable: d.variable,
                score: d.score,
                date: d.date.clone().or_else(|| Some(iso_day(d.dated_at))),
                source_message_id: d.source_message_id.clone(),
            })
            .collect()
    }

    /// The levels at discharge for the profile table.
    pub fn expected_levels(&self) -> Vec<overgang_present::OtherLevel> {
        let Some(id) = &self.discharge_message_id else {
            return Vec::new();
        };
        self.at_discharge
            .iter()
            .map(|a| overgang_present::OtherLevel {
                variable: a.variable,
                score: a.score,
                date: a.date.clone(),
                source_message_id: id.clone(),
            })
            .collect()
    }
}

/// `YYYY-MM-DD` of an instant, in Norway.
fn iso_day(ms: i64) -> String {
    overgang_flow::time::day_string(overgang_flow::time::oslo_day(ms))
}

/// Places `message_id` among the patient's `facts` (its own fact included
/// when it has one), and derives the habitual baseline before its stay's
/// admission from the facts outside that stay. Pure.
pub fn baseline_of(
    facts: &[overgang_flow::Fact],
    message_id: &str,
    received_at: i64,
    lookback_days: u32,
) -> MessageBaseline {
    use overgang_flow::{AssessmentSource, Disposition, Role};
    let flow = overgang_flow::stays(facts);
    let stay = flow
        .stays
        .iter()
        .find(|s| s.messages.iter().any(|m| m.message_id == message_id));
    let admitted_at = stay.map_or(received_at, |s| s.admitted_at);
    let in_stay = |id: &str| {
        id == message_id || stay.is_some_and(|s| s.messages.iter().any(|m| m.message_id == id))
    };
    let history: Vec<overgang_flow::Fact> = facts
        .iter()
        .filter(|f| !in_stay(&f.message_id))
        .cloned()
        .collect();
    let derived = overgang_flow::derived_baseline(&history, admitted_at, lookback_days);
    let discharge = stay.and_then(|s| {
        s.messages
            .iter()
            .filter(|m| m.role == Role::DischargeReport && m.disposition == Disposition::Effective)
            .max_by(|a, b| (a.received_at, &a.message_id).cmp(&(b.received_at, &b.message_id)))
    });
    let mut at_discharge: Vec<overgang_flow::FactAssessment> = Vec::new();
    if let Some(f) = discharge.and_then(|d| facts.iter().find(|f| f.message_id == d.message_id)) {
        for a in &f.assessments {
            if a.source == AssessmentSource::ProfileHabitual || a.score.is_none() {
                continue;
            }
            // The extension's current level wins over the PLO document's.
            match at_discharge.iter_mut().find(|b| b.variable == a.variable) {
                Some(b) if a.source == AssessmentSource::ProfileCurrent => *b = a.clone(),
                Some(_) => {}
                None => at_discharge.push(a.clone()),
            }
        }
        at_discharge.sort_by_key(|a| a.variable);
    }
    MessageBaseline {
        admitted_at,
        stay_id: stay.map(|s| s.id.clone()),
        derived,
        discharge_message_id: discharge.map(|d| d.message_id.clone()),
        at_discharge,
    }
}

/// [`baseline_of`] over the patient's stored facts (all of them: the
/// look-back bounds what counts). Deleted messages have no facts, so
/// retention applies by itself.
pub async fn message_baseline<S: Store>(
    store: &S,
    lookback_days: u32,
    message_id: &str,
    received_at: i64,
    patient_key: String,
) -> Result<MessageBaseline, overgang_store::StoreError> {
    let rows = store
        .patient_flow_facts(patient_key, PAGE_PATIENT_FACTS)
        .await?;
    let facts = facts_of_rows(rows);
    Ok(baseline_of(&facts, message_id, received_at, lookback_days))
}

/// A patient's newest facts the nurse's page reads (their stays and
/// earlier assessments).
pub const PAGE_PATIENT_FACTS: u32 = 200;
/// A patient's newest facts intake reads for HAB-01 (on the answer's path:
/// small, so the cost per message stays bounded).
pub const INTAKE_PATIENT_FACTS: u32 = 50;

/// The completeness rule that asks for a habitual baseline.
pub const HAB_01: &str = "HAB-01";

/// Turns HAB-01 warnings into information when a derived baseline covers
/// the message: one of the IPLOS variables it assesses (`coded`), or when
/// it assesses none, any variable. The finding then names the baseline it
/// accepted (the latest one): its date and source message. Returns whether
/// anything changed; the caller recomputes the verdict. Pure.
pub fn accept_derived_baseline(
    findings: &mut [overgang_model::Finding],
    derived: &[overgang_flow::DerivedLevel],
    coded: &[u8],
) -> bool {
    let cited = derived
        .iter()
        .filter(|d| d.score.is_some() && (coded.is_empty() || coded.contains(&d.variable)))
        .max_by(|a, b| (a.dated_at, &a.source_message_id).cmp(&(b.dated_at, &b.source_message_id)));
    let Some(d) = cited else {
        return false;
    };
    let iso = d.date.clone().unwrap_or_else(|| iso_day(d.dated_at));
    let nb_date = overgang_present::norwegian_date(&iso).unwrap_or_else(|| iso.clone());
    let mut changed = false;
    for f in findings
        .iter_mut()
        .filter(|f| f.code == HAB_01 && f.severity == overgang_model::Severity::Warning)
    {
        f.severity = overgang_model::Severity::Info;
        f.text_nb = format!(
            "Habituelt funksjonsnivå er ikke oppgitt i meldingen; utledet fra tidligere kartlegging {nb_date} (melding {})",
            d.source_message_id
        );
        f.text_en = format!(
            "The habitual functional level is not stated in the message; derived from an earlier assessment of {iso} (message {})",
            d.source_message_id
        );
        changed = true;
    }
    changed
}

/// At intake, after validation: when the report has a HAB-01 warning and
/// the patient has a derived baseline before this message's stay, accept
/// it ([`accept_derived_baseline`]) and recompute the verdict. A store
/// error leaves the report as it is.
pub async fn derived_baseline_at_intake<S: Store>(
    store: &S,
    lookback_days: u32,
    report: &mut overgang_validate::Report,
    message_id: &str,
    received_at: i64,
    patient_key: Option<String>,
) {
    let has_hab = report
        .findings
        .iter()
        .any(|f| f.code == HAB_01 && f.severity == overgang_model::Severity::Warning);
    let Some(key) = patient_key.filter(|_| has_hab) else {
        return;
    };
    let rows = match store
        .patient_flow_facts(key.clone(), INTAKE_PATIENT_FACTS)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "flow facts unreadable; HAB-01 stands");
            return;
        }
    };
    let mut facts = facts_of_rows(rows);
    let own = overgang_flow::fact_of(
        &report.message,
        overgang_flow::FactInput {
            message_id: message_id.to_owned(),
            received_at,
            patient_key: Some(key),
            ..Default::default()
        },
    );
    let mut coded: Vec<u8> = own
        .assessments
        .iter()
        .filter(|a| a.source != overgang_flow::AssessmentSource::ProfileHabitual)
        .map(|a| a.variable)
        .collect();
    coded.sort_unstable();
    coded.dedup();
    facts.push(own);
    let b = baseline_of(&facts, message_id, received_at, lookback_days);
    if accept_derived_baseline(&mut report.findings, &b.derived, &coded) {
        report.verdict = overgang_model::Verdict::of(&report.findings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overgang_flow::{DatedBy, DerivedLevel, Fact};
    use overgang_model::{Category, Finding, Severity};
    use serde_json::json;

    const DAY: i64 = 86_400_000;
    /// 2025-03-01T00:00Z.
    const T1: i64 = 1_740_787_200_000;

    fn fact(id: &str, kind: &str, at: i64, from: &str, to: &str, extra: serde_json::Value) -> Fact {
        let mut v = json!({
            "message_id": id,
            "received_at": at,
            "msg_type": kind,
            "sender": { "org": from },
            "receiver": { "org": to },
            "patient_key": "p1",
            "status": "N",
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).expect("a fact")
    }

    fn assessed(variable: u8, score: i64, date: &str, date_ms: i64) -> serde_json::Value {
        json!({ "assessments": [{
            "variable": variable, "score": score, "date": date, "date_ms": date_ms, "source": "plo"
        }] })
    }

    /// An earlier admission report; a later stay (admission notice, an
    /// admission report whose assessment is dated the day before, a
    /// discharge report).
    fn journey() -> Vec<Fact> {
        vec![
            fact(
                "old",
                "INNLEGGELSESRAPPORT",
                T1 - 40 * DAY,
                "M",
                "H",
                assessed(5, 2, "2025-01-20", T1 - 40 * DAY),
            ),
            fact(
                "adm",
                "LOG_INNLAGT",
                T1,
                "H",
                "M",
                json!({ "events": [{ "code": "1", "at": T1, "date_only": false }] }),
            ),
            fact(
                "new",
                "INNLEGGELSESRAPPORT",
                T1 + 3_600_000,
                "M",
                "H",
                assessed(5, 4, "2025-02-28", T1 - DAY),
            ),
            fact(
                "dis",
                "UTSKRIVNINGSRAPPORT",
                T1 + 5 * DAY,
                "H",
                "M",
                assessed(5, 3, "2025-03-06", T1 + 5 * DAY),
            ),
        ]
    }

    #[test]
    fn the_baseline_comes_from_before_the_stay_and_never_from_the_stay_itself() {
        let facts = journey();
        let b = baseline_of(&facts, "new", T1 + 3_600_000, 365);
        assert!(b.stay_id.is_some(), "{b:?}");
        assert_eq!(b.admitted_at, T1);
        assert_eq!(b.derived.len(), 1, "{b:?}");
        assert_eq!(b.derived[0].source_message_id, "old");
        assert_eq!(b.derived[0].score, Some(2));
        assert_eq!(b.discharge_message_id.as_deref(), Some("dis"));
        let expected = b.expected_levels();
        assert_eq!(expected.len(), 1);
        assert_eq!((expected[0].variable, expected[0].score), (5, Some(3)));
        assert_eq!(b.derived_levels()[0].date.as_deref(), Some("2025-01-20"));
        // Outside the look-back: nothing.
        assert!(baseline_of(&facts, "new", T1, 30).derived.is_empty());
        // The earlier report itself has nothing before it.
        let first = baseline_of(&facts, "old", T1 - 40 * DAY, 365);
        assert!(first.derived.is_empty() && first.stay_id.is_none());
        assert!(first.expected_levels().is_empty());
    }

    fn hab01() -> Finding {
        Finding::new(
            HAB_01,
            Category::Completeness,
            Severity::Warning,
            "nb",
            "en",
        )
    }

    fn level(variable: u8, dated_at: i64, id: &str) -> DerivedLevel {
        DerivedLevel {
            variable,
            score: Some(2),
            date: None,
            dated_at,
            dated_by: DatedBy::Receipt,
            source_message_id: id.to_owned(),
            derived: true,
        }
    }

    #[test]
    fn hab01_becomes_information_naming_the_latest_covering_baseline() {
        let derived = [level(7, T1, "a"), level(5, T1 - DAY, "b")];
        // Covers none of the variables the message assesses: unchanged.
        let mut f = vec![hab01()];
        assert!(!accept_derived_baseline(&mut f, &derived, &[1, 2]));
        assert_eq!(f[0].severity, Severity::Warning);
        // Covers 5: the level of 5 is cited.
        let mut f = vec![hab01()];
        assert!(accept_derived_baseline(&mut f, &derived, &[5]));
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].text_nb.contains("utledet") && f[0].text_nb.contains("melding b"));
        assert!(f[0].text_nb.contains("28.02.2025"), "{}", f[0].text_nb);
        assert!(f[0].text_en.contains("2025-02-28") && f[0].text_en.contains("message b"));
        // Assesses nothing: any level, the latest.
        let mut f = vec![hab01()];
        assert!(accept_derived_baseline(&mut f, &derived, &[]));
        assert!(f[0].text_en.contains("message a"));
        // No derived level: unchanged.
        let mut f = vec![hab01()];
        assert!(!accept_derived_baseline(&mut f, &[], &[]));
    }
}

#[cfg(test)]
mod page_tests {
    use super::next_page_size;

    #[test]
    fn pages_hold_about_ten_thousand_facts() {
        // Short histories: as many patients as allowed.
        assert_eq!(next_page_size(500, 1_000, 500), 500);
        // 100 facts a patient: 100 patients.
        assert_eq!(next_page_size(500, 50_000, 500), 100);
        // One patient with a very long history: one at a time.
        assert_eq!(next_page_size(1, 80_000, 500), 1);
        // An empty page (cannot happen) does not divide by zero.
        assert_eq!(next_page_size(0, 0, 500), 500);
    }
}
