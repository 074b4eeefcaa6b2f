//! Stays: one patient at one hospital, from admission to discharge or death,
//! built from [`Fact`]s. The result does not depend on the order of the
//! facts: they are first sorted by (received_at, message id).

use crate::fact::Fact;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

const HOUR_MS: i64 = 3_600_000;
/// Admission times closer than this to a stay's admission are the same stay.
pub const SAME_ADMISSION_MS: i64 = 12 * HOUR_MS;
/// A message placed by time alone may arrive this long after the stay ended.
pub const AFTER_END_GRACE_MS: i64 = 30 * 24 * HOUR_MS;

/// What a message is in a stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `LOG_INNLAGT`.
    Admission,
    /// `INNLEGGELSESRAPPORT`.
    AdmissionReport,
    /// `HELSEOPPL_SOKNAD`.
    HealthInfo,
    /// `LOG_UTSKRIVNINGSKLAR`.
    ReadyNotice,
    /// `LOG_AVMELDING`.
    ReadyWithdrawn,
    /// v2.0 `TilbakemeldingUtskrivningsklarPasient`.
    ReadyAnswer,
    /// `UTSKRIVNINGSRAPPORT`.
    DischargeReport,
    /// `LOG_UTSKREVET`.
    DischargeNotice,
    /// `LOG_DOD`.
    Death,
    /// A Dialogmelding.
    Dialogue,
    Other,
}

/// Whether a message still counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// It counts.
    Effective,
    /// A later cancellation (`Forsendelsesstatus` C) withdrew it.
    Cancelled,
    /// A later change (E/M), or for Helseopplysninger any later one, replaced it.
    Superseded,
    /// It is itself a cancellation.
    Cancellation,
}

/// Who sent a message, seen from the stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Hospital,
    /// Anyone else: the municipality's services (or a GP).
    Municipality,
}

/// How a message was put in its stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// It carries the stay's admission event.
    Admission,
    /// Its `ConversationRef` names a message of the stay.
    Conversation,
    /// The latest admission of the patient at that hospital before it.
    Time,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayMessage {
    pub message_id: String,
    /// `MsgInfo/MsgId`.
    pub msg_id: Option<String>,
    /// The conversation it belongs to: its `RefToConversation`, or its own
    /// `MsgId` when it starts one.
    pub conversation: Option<String>,
    /// Message type or notice name ([`Fact::kind`]).
    pub kind: String,
    pub received_at: i64,
    pub role: Role,
    pub disposition: Disposition,
    pub side: Side,
    pub placement: Placement,
    /// A copy (or the message itself) went to the patient's GP.
    pub to_gp: bool,
    pub positive_apprec_at: Option<i64>,
}

/// Why a ready period ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodEnd {
    /// `LOG_AVMELDING`: no longer ready.
    Withdrawn,
    Discharged,
    Died,
}

/// One declaration of "ready for discharge" and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyPeriod {
    /// The ready date from the notice's event (code 3), else its receipt.
    pub ready_at: i64,
    /// The ready notice (gateway message id).
    pub notice_message_id: String,
    /// When the notice was received by the gateway.
    pub notice_received_at: i64,
    /// The positive AppRec on the notice: the proof of notification.
    pub notified_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end: Option<PeriodEnd>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StayState {
    /// Admitted, not declared ready (or no longer ready).
    Open,
    /// Declared ready for discharge and still in hospital.
    Ready,
    Discharged,
    Died,
    /// Every message announcing the admission was cancelled.
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    /// `patient_key/hospital/admitted_at`: stable across rebuilds.
    pub id: String,
    pub patient_key: String,
    /// The hospital's organisation HER-id.
    pub hospital: String,
    /// The municipality number of the municipal side, when known.
    pub municipality: Option<String>,
    pub admitted_at: i64,
    /// The current (latest) ready declaration.
    pub ready_at: Option<i64>,
    /// When the latest ready declaration was withdrawn (`LOG_AVMELDING`).
    pub ready_cancelled_at: Option<i64>,
    pub discharged_at: Option<i64>,
    pub died_at: Option<i64>,
    pub state: StayState,
    pub ready_periods: Vec<ReadyPeriod>,
    /// In order of receipt.
    pub messages: Vec<StayMessage>,
}

impl Stay {
    /// When the stay ended (discharge or death).
    pub fn ended_at(&self) -> Option<i64> {
        match (self.discharged_at, self.died_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Sorted by patient, hospital, admission.
    pub stays: Vec<Stay>,
    /// Gateway message ids of messages no stay could take, in order of receipt.
    pub unplaced: Vec<String>,
}

impl Flow {
    pub fn stay(&self, id: &str) -> Option<&Stay> {
        self.stays.iter().find(|s| s.id == id)
    }
}

pub(crate) fn role_of(f: &Fact) -> Role {
    let by = |name: &str| f.is(name);
    if by("LOG_INNLAGT") || by("MeldingInnlagtPasient") {
        Role::Admission
    } else if by("INNLEGGELSESRAPPORT") {
        Role::AdmissionReport
    } else if by("HELSEOPPL_SOKNAD") {
        Role::HealthInfo
    } else if by("LOG_UTSKRIVNINGSKLAR") || by("MeldingUtskrivningsklarPasient") {
        Role::ReadyNotice
    } else if by("LOG_AVMELDING") || by("AvmeldingUtskrivningsklarPasient") {
        Role::ReadyWithdrawn
    } else if by("TilbakemeldingUtskrivningsklarPasient") {
        Role::ReadyAnswer
    } else if by("UTSKRIVNINGSRAPPORT") {
        Role::DischargeReport
    } else if by("LOG_UTSKREVET") || by("MeldingOmUtskrevetPasient") {
        Role::DischargeNotice
    } else if by("LOG_DOD") || by("ORIENTERING_OM_DOD") || by("OrienteringOmDod") {
        Role::Death
    } else if f.kind().starts_with("DIALOG_") || f.standard.as_deref() == Some("Dialogmelding") {
        Role::Dialogue
    } else {
        Role::Other
    }
}

/// The organisation HER-ids that may be the hospital, best first.
fn hospital_candidates(f: &Fact, role: Role) -> Vec<String> {
    let s = f.sender.org.clone();
    let r = f.receiver.org.clone();
    let v = match role {
        Role::Admission
        | Role::HealthInfo
        | Role::ReadyNotice
        | Role::ReadyWithdrawn
        | Role::DischargeReport
        | Role::DischargeNotice => vec![s],
        Role::AdmissionReport | Role::ReadyAnswer => vec![r],
        Role::Death | Role::Dialogue | Role::Other => {
            match (&f.sender_municipality, &f.receiver_municipality) {
                (Some(_), None) => vec![r],
                (None, Some(_)) => vec![s],
                _ => vec![s, r],
            }
        }
    };
    v.into_iter().flatten().collect()
}

fn same_kind(a: &Fact, b: &Fact) -> bool {
    a.kind() == b.kind() && a.patient_key == b.patient_key
}

type GroupKey<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

fn group_key(f: &Fact) -> GroupKey<'_> {
    (f.kind(), f.patient_key.as_deref(), f.sender.org.as_deref())
}

/// Dispositions: cancellations, changes and "the latest Helseopplysninger".
pub(crate) fn dispositions_of(facts: &[&Fact]) -> Vec<Disposition> {
    let mut disp = vec![Disposition::Effective; facts.len()];
    let mut by_msg_id: HashMap<&str, usize> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        if let Some(m) = f.msg_id.as_deref() {
            by_msg_id.entry(m).or_insert(i);
        }
    }
    // Earlier messages of the same type for the same patient from the same
    // organisation, in order of receipt.
    let mut groups: HashMap<GroupKey<'_>, Vec<usize>> = HashMap::new();
    for i in 0..facts.len() {
        let f = facts[i];
        let earlier = groups
            .get(&group_key(f))
            .map(Vec::as_slice)
            .unwrap_or_default();
        // The message a cancellation or change refers to: its parent when
        // that is of the same type and patient, else the latest earlier
        // effective one of the group.
        let parent = f
            .ref_to_parent
            .as_deref()
            .and_then(|r| by_msg_id.get(r))
            .copied()
            .filter(|&p| p != i && same_kind(facts[p], f));
        let target = parent.or_else(|| {
            f.patient_key.as_ref()?;
            earlier
                .iter()
                .rev()
                .copied()
                .find(|&j| disp[j] == Disposition::Effective)
        });
        if f.is_cancellation() {
            disp[i] = Disposition::Cancellation;
            let mut cur = target;
            let mut steps = 0;
            while let Some(t) = cur {
                if disp[t] == Disposition::Cancelled || steps > facts.len() {
                    break;
                }
                if disp[t] != Disposition::Cancellation {
                    disp[t] = Disposition::Cancelled;
                }
                steps += 1;
                // A change chain is withdrawn as a whole.
                cur = facts[t]
                    .ref_to_parent
                    .as_deref()
                    .and_then(|r| by_msg_id.get(r))
                    .copied()
                    .filter(|&p| p != t && same_kind(facts[p], facts[t]));
            }
        } else if f.is_change() {
            if let Some(t) = target.filter(|&t| disp[t] == Disposition::Effective) {
                disp[t] = Disposition::Superseded;
            }
        }
        // The latest Helseopplysninger replaces the earlier ones.
        if role_of(f) == Role::HealthInfo && disp[i] == Disposition::Effective {
            for &j in earlier {
                if disp[j] == Disposition::Effective {
                    disp[j] = Disposition::Superseded;
                }
            }
        }
        groups.entry(group_key(f)).or_default().push(i);
    }
    disp
}

struct Draft {
    patient: String,
    hospital: String,
    admitted_at: i64,
    live: bool,
    members: Vec<(usize, Placement)>,
}

/// Groups facts into stays. See `docs/FLOW.md`.
pub fn stays(facts: &[Fact]) -> Flow {
    let mut order: Vec<&Fact> = facts.iter().collect();
    order.sort_by(|a, b| {
        (a.received_at, &a.message_id, a.kind()).cmp(&(b.received_at, &b.message_id, b.kind()))
    });
    let disp = dispositions_of(&order);
    let roles: Vec<Role> = order.iter().map(|f| role_of(f)).collect();

    // 1. Admissions: every fact with an admission event (or LOG_INNLAGT)
    //    whose hospital is known from its role.
    let mut anchors: BTreeMap<(String, String), Vec<(i64, usize)>> = BTreeMap::new();
    for (i, f) in order.iter().enumerate() {
        let Some(p) = f.patient_key.clone() else {
            continue;
        };
        let cands = hospital_candidates(f, roles[i]);
        if cands.len() != 1 {
            continue;
        }
        let at = f
            .event_at("1")
            .or((roles[i] == Role::Admission).then_some(f.received_at));
        if let (Some(at), Some(h)) = (at, cands.into_iter().next()) {
            anchors.entry((p, h)).or_default().push((at, i));
        }
    }
    let mut drafts: Vec<Draft> = Vec::new();
    let mut placed: Vec<Option<usize>> = vec![None; order.len()];
    for ((patient, hospital), mut list) in anchors {
        list.sort();
        let mut cluster_start: Option<i64> = None;
        for (at, i) in list {
            let live = disp[i] == Disposition::Effective;
            let open_new = cluster_start.is_none_or(|s| at - s > SAME_ADMISSION_MS);
            if open_new {
                cluster_start = Some(at);
                drafts.push(Draft {
                    patient: patient.clone(),
                    hospital: hospital.clone(),
                    admitted_at: at,
                    live,
                    members: Vec::new(),
                });
            }
            if let Some(d) = drafts.last_mut() {
                if live && !d.live {
                    d.live = true;
                    d.admitted_at = at;
                } else if live {
                    d.admitted_at = d.admitted_at.min(at);
                }
                d.members.push((i, Placement::Admission));
                placed[i] = Some(drafts.len() - 1);
            }
        }
    }

    // 2. Everything else, in order of receipt: by conversation, else by time.
    let mut by_msg_id: HashMap<&str, usize> = HashMap::new();
    for (i, f) in order.iter().enumerate() {
        if let Some(m) = f.msg_id.as_deref() {
            by_msg_id.entry(m).or_insert(i);
        }
    }
    let mut by_patient: HashMap<String, Vec<usize>> = HashMap::new();
    for (k, d) in drafts.iter().enumerate() {
        by_patient.entry(d.patient.clone()).or_default().push(k);
    }
    let mut unplaced = Vec::new();
    for i in 0..order.len() {
        if placed[i].is_some() {
            continue;
        }
        let f = order[i];
        let Some(patient) = f.patient_key.as_deref() else {
            unplaced.push(i);
            continue;
        };
        let linked = [f.ref_to_parent.as_deref(), f.ref_to_conversation.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|r| by_msg_id.get(r))
            .filter_map(|&j| placed[j])
            .find(|&d| drafts[d].patient == patient);
        if let Some(d) = linked {
            drafts[d].members.push((i, Placement::Conversation));
            placed[i] = Some(d);
            continue;
        }
        let cands = hospital_candidates(f, roles[i]);
        let by_time = by_patient
            .get(patient)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&k| {
                let d = &drafts[k];
                cands.contains(&d.hospital) && d.admitted_at - SAME_ADMISSION_MS <= f.received_at
            })
            .max_by_key(|&k| (drafts[k].live, drafts[k].admitted_at));
        match by_time {
            Some(d) => {
                drafts[d].members.push((i, Placement::Time));
                placed[i] = Some(d);
            }
            None => unplaced.push(i),
        }
    }

    // 3. Milestones.
    let mut out = Vec::new();
    for d in drafts {
        let (stay, late) = build(d, &order, &disp, &roles);
        unplaced.extend(late);
        out.push(stay);
    }
    out.sort_by(|a, b| {
        (&a.patient_key, &a.hospital, a.admitted_at).cmp(&(
            &b.patient_key,
            &b.hospital,
            b.admitted_at,
        ))
    });
    unplaced.sort_unstable();
    Flow {
        stays: out,
        unplaced: unplaced
            .into_iter()
            .map(|i| order[i].message_id.clone())
            .collect(),
    }
}

/// Builds a stay from its members; returns the indices of messages placed by
/// time that arrived too long after the stay ended (they become unplaced).
fn build(d: Draft, order: &[&Fact], disp: &[Disposition], roles: &[Role]) -> (Stay, Vec<usize>) {
    let mut members = d.members;
    members.sort_by_key(|(i, _)| *i);
    let eff = |i: usize| disp[i] == Disposition::Effective;
    let when = |i: usize, code: &str| order[i].event_at(code).unwrap_or(order[i].received_at);

    let discharged_at = members
        .iter()
        .filter(|(i, _)| eff(*i))
        .filter_map(|&(i, _)| match roles[i] {
            Role::DischargeNotice => Some(when(i, "2")),
            Role::DischargeReport => order[i].event_at("2"),
            _ => None,
        })
        .min();
    let died_at = members
        .iter()
        .filter(|(i, _)| eff(*i))
        .filter_map(|&(i, _)| match roles[i] {
            Role::Death => Some(when(i, "13")),
            _ => order[i].event_at("13").filter(|_| roles[i] != Role::Other),
        })
        .min();
    let end = match (discharged_at, died_at) {
        (Some(a), Some(b)) if b <= a => Some((b, PeriodEnd::Died)),
        (Some(a), _) => Some((a, PeriodEnd::Discharged)),
        (None, Some(b)) => Some((b, PeriodEnd::Died)),
        (None, None) => None,
    };

    // Ready declarations and withdrawals in time order.
    let mut marks: Vec<(i64, i64, bool, usize)> = members
        .iter()
        .filter(|(i, _)| eff(*i))
        .filter_map(|&(i, _)| match roles[i] {
            Role::ReadyNotice => Some((when(i, "3"), order[i].received_at, true, i)),
            Role::ReadyWithdrawn => Some((when(i, "4"), order[i].received_at, false, i)),
            _ => None,
        })
        .collect();
    marks.sort();
    let mut periods: Vec<ReadyPeriod> = Vec::new();
    for (at, _, is_ready, i) in marks {
        let open = periods.last_mut().filter(|p| p.end.is_none());
        match (is_ready, open) {
            (true, None) => periods.push(ReadyPeriod {
                ready_at: at,
                notice_message_id: order[i].message_id.clone(),
                notice_received_at: order[i].received_at,
                notified_at: order[i].positive_apprec_at,
                ended_at: None,
                end: None,
            }),
            (true, Some(_)) => {}
            (false, Some(p)) => {
                p.ended_at = Some(at.max(p.ready_at));
                p.end = Some(PeriodEnd::Withdrawn);
            }
            (false, None) => {}
        }
    }
    if let Some((at, why)) = end {
        periods.retain(|p| p.ready_at <= at || p.end.is_some());
        for p in periods.iter_mut() {
            if p.end.is_none() || p.ended_at.is_some_and(|e| e > at) {
                p.ended_at = Some(at.max(p.ready_at));
                p.end = Some(why);
            }
        }
    }

    // The municipality: the ready notice's receiver, else the first known.
    let municipal_of = |i: usize| -> Option<String> {
        let f = order[i];
        if f.sender.org.as_deref() == Some(d.hospital.as_str()) {
            f.receiver_municipality.clone()
        } else {
            f.sender_municipality.clone()
        }
    };
    let municipality = members
        .iter()
        .filter(|(i, _)| roles[*i] == Role::ReadyNotice && eff(*i))
        .find_map(|&(i, _)| municipal_of(i))
        .or_else(|| members.iter().find_map(|&(i, _)| municipal_of(i)));

    let ended = end.map(|(at, _)| at);
    let mut late = Vec::new();
    let mut messages = Vec::new();
    for (i, placement) in members {
        let f = order[i];
        if placement == Placement::Time
            && ended.is_some_and(|e| f.received_at > e + AFTER_END_GRACE_MS)
        {
            late.push(i);
            continue;
        }
        messages.push(StayMessage {
            message_id: f.message_id.clone(),
            msg_id: f.msg_id.clone(),
            conversation: f.ref_to_conversation.clone().or_else(|| f.msg_id.clone()),
            kind: f.kind().to_owned(),
            received_at: f.received_at,
            role: roles[i],
            disposition: disp[i],
            side: if f.sender.org.as_deref() == Some(d.hospital.as_str()) {
                Side::Hospital
            } else {
                Side::Municipality
            },
            placement,
            to_gp: f.copy_to_gp || f.receiver_is_gp,
            positive_apprec_at: f.positive_apprec_at,
        });
    }
    let current = periods.last();
    let state = if !d.live {
        StayState::Cancelled
    } else if died_at.is_some() {
        StayState::Died
    } else if discharged_at.is_some() {
        StayState::Discharged
    } else if current.is_some_and(|p| p.end.is_none()) {
        StayState::Ready
    } else {
        StayState::Open
    };
    let stay = Stay {
        id: format!("{}/{}/{}", d.patient, d.hospital, d.admitted_at),
        patient_key: d.patient,
        hospital: d.hospital,
        municipality,
        admitted_at: d.admitted_at,
        ready_at: current.map(|p| p.ready_at),
        ready_cancelled_at: current
            .filter(|p| p.end == Some(PeriodEnd::Withdrawn))
            .and_then(|p| p.ended_at),
        discharged_at,
        died_at,
        state,
        ready_periods: periods,
        messages,
    };
    (stay, late)
}
