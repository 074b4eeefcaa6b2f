//! The derived habitual baseline: the latest assessment dated before an
//! admission, from earlier messages about the same patient.

use crate::fact::{AssessmentSource, Fact};
use crate::stay::Disposition;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// Where a derived level's date came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatedBy {
    /// The assessment's own date.
    Assessment,
    /// The message gave no date: its receipt by the gateway stands in.
    Receipt,
}

/// The habitual level of one IPLOS variable, derived from history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedLevel {
    /// List 9111, `1`–`18`.
    pub variable: u8,
    pub score: Option<i64>,
    /// The assessment's date, `YYYY-MM-DD`, when it had one.
    pub date: Option<String>,
    /// The instant used to order and bound assessments.
    pub dated_at: i64,
    pub dated_by: DatedBy,
    /// The gateway message id of the source message.
    pub source_message_id: String,
    /// Always true: this level was not stated as habitual by anyone.
    pub derived: bool,
}

/// For each IPLOS variable, the latest assessment in `history` (the
/// patient's earlier messages) dated before `admitted_at` and no more than
/// `lookback_days` before it. Only messages received before the admission
/// count, and not those cancelled or replaced. Explicit habitual levels
/// (the extension's `Habituell`) are not used: they are not assessments of
/// the time. Sorted by variable.
pub fn derived_baseline(
    history: &[Fact],
    admitted_at: i64,
    lookback_days: u32,
) -> Vec<DerivedLevel> {
    let mut order: Vec<&Fact> = history.iter().collect();
    order.sort_by(|a, b| (a.received_at, &a.message_id).cmp(&(b.received_at, &b.message_id)));
    let disp = crate::stay::dispositions_of(&order);
    let earliest = admitted_at.saturating_sub(i64::from(lookback_days).saturating_mul(DAY_MS));
    let mut best: Vec<Option<DerivedLevel>> = vec![None; 19];
    for (i, f) in order.iter().enumerate() {
        if disp[i] != Disposition::Effective || f.received_at > admitted_at {
            continue;
        }
        for a in &f.assessments {
            if a.source == AssessmentSource::ProfileHabitual {
                continue;
            }
            let (dated_at, dated_by) = match a.date_ms {
                Some(d) => (d, DatedBy::Assessment),
                None => (f.received_at, DatedBy::Receipt),
            };
            if dated_at >= admitted_at || dated_at < earliest {
                continue;
            }
            let Some(slot) = best.get_mut(usize::from(a.variable)) else {
                continue;
            };
            // Later date wins; on the same date the later message.
            if slot.as_ref().is_none_or(|b| dated_at >= b.dated_at) {
                *slot = Some(DerivedLevel {
                    variable: a.variable,
                    score: a.score,
                    date: a.date.clone(),
                    dated_at,
                    dated_by,
                    source_message_id: f.message_id.clone(),
                    derived: true,
                });
            }
        }
    }
    best.into_iter().flatten().collect()
}
