//! The discharge-ready board: who has been declared ready, for how many
//! days, and what the municipality owes for them.

use crate::config::FlowConfig;
use crate::stay::{Flow, PeriodEnd, StayState};
use crate::time::{day_string, days_from_civil, oslo_day, year_of_day};
use serde::{Deserialize, Serialize};

/// One ready declaration of one stay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRow {
    pub stay_id: String,
    pub patient_key: String,
    pub hospital: String,
    pub municipality: Option<String>,
    pub state: StayState,
    pub ready_at: i64,
    /// The ready date in Norway, `YYYY-MM-DD`.
    pub ready_date: String,
    pub notice_message_id: String,
    /// The positive AppRec on the notice: proof the municipality was told.
    pub notified_at: Option<i64>,
    /// Still waiting at `now`.
    pub waiting: bool,
    pub ended_at: Option<i64>,
    pub end: Option<PeriodEnd>,
    /// Calendar days counted (see `docs/FLOW.md`).
    pub days_waiting: u32,
    /// The sum of the day rates of the counted days, in NOK.
    pub liability_nok: i64,
    /// Counted days in years with no configured rate (not in the liability).
    pub unpriced_days: u32,
}

/// Counted days: the calendar days (Norwegian time) after the ready date up
/// to and including the day waiting ended, or today while still waiting.
/// Returns (days, liability, unpriced days).
pub fn count_days(config: &FlowConfig, ready_at: i64, until: i64) -> (u32, i64, u32) {
    let first = oslo_day(ready_at) + 1;
    let last = oslo_day(until);
    let (mut days, mut nok, mut unpriced) = (0u32, 0i64, 0u32);
    // Year by year, so a far-off date costs no more than a near one.
    let mut d = first;
    while d <= last {
        let year = year_of_day(d);
        let segment_end = last.min(days_from_civil(year + 1, 1, 1) - 1);
        let n = u32::try_from(segment_end - d + 1).unwrap_or(u32::MAX);
        days = days.saturating_add(n);
        match config.day_rate(year) {
            Some(rate) => nok = nok.saturating_add(rate.saturating_mul(i64::from(n))),
            None => unpriced = unpriced.saturating_add(n),
        }
        d = segment_end + 1;
    }
    (days, nok, unpriced)
}

/// Every ready declaration, for one municipality or all; sorted by ready
/// time. Periods that end after `now` (or start after it) are counted up
/// to `now`.
pub fn board(
    flow: &Flow,
    config: &FlowConfig,
    municipality: Option<&str>,
    now: i64,
) -> Vec<BoardRow> {
    let mut rows = Vec::new();
    for stay in &flow.stays {
        if stay.state == StayState::Cancelled {
            continue;
        }
        if municipality.is_some() && stay.municipality.as_deref() != municipality {
            continue;
        }
        for p in &stay.ready_periods {
            let ended = p.ended_at.filter(|&e| e <= now);
            let until = ended.unwrap_or(now);
            let (days_waiting, liability_nok, unpriced_days) =
                count_days(config, p.ready_at, until);
            rows.push(BoardRow {
                stay_id: stay.id.clone(),
                patient_key: stay.patient_key.clone(),
                hospital: stay.hospital.clone(),
                municipality: stay.municipality.clone(),
                state: stay.state,
                ready_at: p.ready_at,
                ready_date: day_string(oslo_day(p.ready_at)),
                notice_message_id: p.notice_message_id.clone(),
                notified_at: p.notified_at,
                waiting: ended.is_none(),
                ended_at: ended,
                end: ended.and(p.end),
                days_waiting,
                liability_nok,
                unpriced_days,
            });
        }
    }
    rows.sort_by(|a, b| (a.ready_at, &a.stay_id).cmp(&(b.ready_at, &b.stay_id)));
    rows
}

fn state_str(s: StayState) -> &'static str {
    match s {
        StayState::Open => "open",
        StayState::Ready => "ready",
        StayState::Discharged => "discharged",
        StayState::Died => "died",
        StayState::Cancelled => "cancelled",
    }
}

fn end_str(e: Option<PeriodEnd>) -> &'static str {
    match e {
        None => "",
        Some(PeriodEnd::Withdrawn) => "withdrawn",
        Some(PeriodEnd::Discharged) => "discharged",
        Some(PeriodEnd::Died) => "died",
    }
}

/// One CSV field: quoted when needed (RFC 4180), and with a leading `'`
/// when a spreadsheet would read it as a formula.
fn field(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn time_str(ms: Option<i64>) -> String {
    ms.map(overgang_timefmt::rfc3339_millis).unwrap_or_default()
}

/// The board as CSV (RFC 4180: CRLF line ends, a header row).
pub fn board_csv(rows: &[BoardRow]) -> String {
    let mut out = String::from(
        "stay_id,patient_key,hospital_her,municipality,state,ready_date,ready_at,notice_message_id,notified_at,waiting,ended_at,end,days_waiting,liability_nok,unpriced_days\r\n",
    );
    for r in rows {
        let cells = [
            field(&r.stay_id),
            field(&r.patient_key),
            field(&r.hospital),
            field(r.municipality.as_deref().unwrap_or("")),
            state_str(r.state).to_owned(),
            field(&r.ready_date),
            time_str(Some(r.ready_at)),
            field(&r.notice_message_id),
            time_str(r.notified_at),
            r.waiting.to_string(),
            time_str(r.ended_at),
            end_str(r.end).to_owned(),
            r.days_waiting.to_string(),
            r.liability_nok.to_string(),
            r.unpriced_days.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_guarded() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+47"), "'+47");
        assert_eq!(field("@sum"), "'@sum");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }
}
