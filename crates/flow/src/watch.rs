//! Expected messages: which are overdue, and which came late.

use crate::config::{Condition, Deadline, FlowConfig, From, Rule, StayEvent, Trigger};
use crate::stay::{Disposition, Flow, Role, Side, Stay, StayMessage, StayState};
use crate::time::{oslo_day, oslo_day_start};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverdueStatus {
    /// Past its deadline and not arrived.
    Overdue,
    /// Arrived, but after its deadline. Kept for the record; not an alert.
    Late,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    /// The rule's id (the kind of the item).
    pub rule: String,
    pub stay_id: String,
    pub patient_key: String,
    pub hospital: String,
    pub municipality: Option<String>,
    pub trigger_at: i64,
    pub due_at: i64,
    pub status: OverdueStatus,
    /// How late: until `now` when overdue, until arrival when late.
    pub late_by_ms: i64,
    /// The message that arrived late.
    pub arrived_message_id: Option<String>,
    pub arrived_at: Option<i64>,
}

fn due(trigger: i64, d: Deadline) -> i64 {
    match d {
        Deadline::After(ms) => trigger.saturating_add(ms),
        Deadline::SameDay => oslo_day_start(oslo_day(trigger) + 1),
    }
}

fn effective(m: &StayMessage) -> bool {
    m.disposition == Disposition::Effective
}

fn triggers(stay: &Stay, t: &Trigger) -> Vec<i64> {
    let mut v: Vec<i64> = match t {
        Trigger::Message(kind) => stay
            .messages
            .iter()
            .filter(|m| effective(m) && &m.kind == kind)
            .map(|m| m.received_at)
            .collect(),
        Trigger::Event(StayEvent::Admitted) => vec![stay.admitted_at],
        Trigger::Event(StayEvent::Ready) => stay.ready_periods.iter().map(|p| p.ready_at).collect(),
        Trigger::Event(StayEvent::Discharged) => stay.discharged_at.into_iter().collect(),
        Trigger::Event(StayEvent::Died) => stay.died_at.into_iter().collect(),
    };
    v.sort_unstable();
    v
}

fn applies(stay: &Stay, rule: &Rule) -> bool {
    match rule.condition {
        None => true,
        Some(Condition::MunicipalServices) => stay
            .messages
            .iter()
            .any(|m| effective(m) && m.role == Role::Admission),
        Some(Condition::ReadyDeclared) => !stay.ready_periods.is_empty(),
    }
}

fn satisfies(m: &StayMessage, rule: &Rule) -> bool {
    effective(m)
        && rule.expect.iter().any(|e| e == &m.kind)
        && match rule.from {
            From::Any => true,
            From::Hospital => m.side == Side::Hospital,
            From::Municipality => m.side == Side::Municipality,
        }
        && (!rule.to_gp || m.to_gp)
}

/// The expected messages past their deadline at `now` (status `overdue`),
/// and those that arrived after it (status `late`), for every stay.
/// Cancelled stays expect nothing. Sorted by due time, then rule and stay.
pub fn overdue(flow: &Flow, config: &FlowConfig, now: i64) -> Vec<Overdue> {
    let mut out = Vec::new();
    for stay in flow
        .stays
        .iter()
        .filter(|s| s.state != StayState::Cancelled)
    {
        for rule in config.rules_for(stay.municipality.as_deref()) {
            if !rule.enabled || !applies(stay, &rule) {
                continue;
            }
            let ts = triggers(stay, &rule.trigger);
            for (k, &at) in ts.iter().enumerate() {
                let due_at = due(at, rule.deadline);
                let previous = k.checked_sub(1).and_then(|p| ts.get(p)).copied();
                let from = if rule.accept_before {
                    previous.unwrap_or(i64::MIN)
                } else {
                    at
                };
                // Messages with the stay are in order of receipt.
                let arrived = stay
                    .messages
                    .iter()
                    .find(|m| m.received_at >= from && satisfies(m, &rule));
                let item = |status, late_by_ms, arrived: Option<&StayMessage>| Overdue {
                    rule: rule.id.clone(),
                    stay_id: stay.id.clone(),
                    patient_key: stay.patient_key.clone(),
                    hospital: stay.hospital.clone(),
                    municipality: stay.municipality.clone(),
                    trigger_at: at,
                    due_at,
                    status,
                    late_by_ms,
                    arrived_message_id: arrived.map(|m| m.message_id.clone()),
                    arrived_at: arrived.map(|m| m.received_at),
                };
                match arrived {
                    Some(m) if m.received_at > due_at => {
                        out.push(item(OverdueStatus::Late, m.received_at - due_at, Some(m)));
                    }
                    Some(_) => {}
                    None if now > due_at => {
                        out.push(item(OverdueStatus::Overdue, now - due_at, None));
                    }
                    None => {}
                }
            }
        }
    }
    out.sort_by(|a, b| (a.due_at, &a.rule, &a.stay_id).cmp(&(b.due_at, &b.rule, &b.stay_id)));
    out
}
