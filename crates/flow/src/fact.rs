//! [`Fact`]: what the flow needs from one message, without names or
//! national ids, so the store can keep it as JSON beside the message.

use crate::time::{find_date_in_text, oslo_day_start, parse_plo_time};
use overgang_model::{Message, Party};
use serde::{Deserialize, Serialize};

/// A party's HER-ids: the organisation (level 1) and the service, department
/// or person under it (level 2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HerRef {
    pub org: Option<String>,
    pub unit: Option<String>,
}

impl HerRef {
    fn of(p: Option<&Party>) -> HerRef {
        HerRef {
            org: p.and_then(Party::her_id).map(str::to_owned),
            unit: p.and_then(Party::sub_her_id).map(str::to_owned),
        }
    }
}

/// A `TidsfestetHendelse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactEvent {
    /// `Hendelsekode` (list 9121): `1` admitted, `2` discharged, `3` ready
    /// for discharge, `4` no longer ready, `5` expected ready date, `13` died.
    pub code: String,
    /// `TidspunktForHendelse` as milliseconds since the epoch (local time
    /// when the document gives no zone); `None` when absent or unreadable.
    pub at: Option<i64>,
    /// The document gave a date without a time.
    pub date_only: bool,
    /// `Anslag`.
    pub estimate: Option<bool>,
}

/// Where an assessment came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentSource {
    /// `InfoKartleggingFunksjonsniva` in the PLO document.
    Plo,
    /// The Funksjonsprofil extension's current level (`Aktuell`).
    ProfileCurrent,
    /// The Funksjonsprofil extension's habitual level (`Habituell`).
    ProfileHabitual,
}

/// One assessed IPLOS variable (list 9111, `1`–`18`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactAssessment {
    pub variable: u8,
    /// The score as given (the IPLOS scale is {1..5, 9}; not judged here).
    pub score: Option<i64>,
    /// The assessment date as `YYYY-MM-DD`, when the message gives one
    /// (v2.0 `Dato`, the extension's `Dato`, or a date found in the free
    /// text of `SamletVurderingFunksjonsniva/Merknad` in v1.5/v1.6).
    pub date: Option<String>,
    /// The start of that date in Norway, in milliseconds.
    pub date_ms: Option<i64>,
    pub source: AssessmentSource,
}

/// What the caller knows about a message beyond its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactInput {
    /// The gateway's message id.
    pub message_id: String,
    /// When the gateway received the message (ms since the epoch).
    pub received_at: i64,
    /// The patient's keyed hash, as the gateway computes it; `None` when the
    /// message names no patient.
    pub patient_key: Option<String>,
    /// The sender's municipality number (from the address registry).
    pub sender_municipality: Option<String>,
    /// The receiver's municipality number (from the address registry).
    pub receiver_municipality: Option<String>,
    /// Whether a copy receiver is a GP, as the registry knows it. `None`:
    /// any copy addressed to a person (`HealthcareProfessional`) counts.
    pub copy_to_gp: Option<bool>,
    /// Whether the receiver itself is a GP (registry kind).
    pub receiver_is_gp: bool,
    /// When a positive AppRec (status 1 or 3) for this message arrived.
    pub positive_apprec_at: Option<i64>,
}

/// What the flow needs from one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The gateway's message id.
    pub message_id: String,
    pub received_at: i64,
    /// `MsgInfo/Type` (list 8279).
    pub msg_type: Option<String>,
    /// The main document's family (`Pasientlogistikk`, `Dialogmelding`, …).
    pub standard: Option<String>,
    /// Its version (`1.6`, `2.0`, …).
    pub version: Option<String>,
    pub sender: HerRef,
    pub receiver: HerRef,
    /// Copy receivers' most specific HER-ids.
    #[serde(default)]
    pub copies: Vec<String>,
    /// A copy goes to the patient's GP.
    #[serde(default)]
    pub copy_to_gp: bool,
    /// The receiver is a GP.
    #[serde(default)]
    pub receiver_is_gp: bool,
    pub sender_municipality: Option<String>,
    pub receiver_municipality: Option<String>,
    pub patient_key: Option<String>,
    /// `MsgInfo/MsgId`.
    pub msg_id: Option<String>,
    pub ref_to_parent: Option<String>,
    pub ref_to_conversation: Option<String>,
    /// `Forsendelsesstatus` (list 7309): `N` new, `E`/`M` change, `A`
    /// addition, `C` cancellation.
    pub status: Option<String>,
    /// The logistics notice's element name (`MeldingInnlagtPasient`, …).
    pub notice: Option<String>,
    #[serde(default)]
    pub events: Vec<FactEvent>,
    #[serde(default)]
    pub assessments: Vec<FactAssessment>,
    /// When a positive AppRec for this message arrived, once known.
    #[serde(default)]
    pub positive_apprec_at: Option<i64>,
}

impl Fact {
    /// The message type, or for a notice without one (v2.0 feedback) the
    /// notice's element name. Rules and roles match on this.
    pub fn kind(&self) -> &str {
        self.msg_type
            .as_deref()
            .or(self.notice.as_deref())
            .unwrap_or("")
    }

    /// True when `name` is this fact's message type or notice element.
    pub fn is(&self, name: &str) -> bool {
        self.msg_type.as_deref() == Some(name) || self.notice.as_deref() == Some(name)
    }

    pub(crate) fn is_cancellation(&self) -> bool {
        self.status.as_deref() == Some("C")
    }

    pub(crate) fn is_change(&self) -> bool {
        matches!(self.status.as_deref(), Some("E" | "M"))
    }

    /// The time of the first event with this code.
    pub fn event_at(&self, code: &str) -> Option<i64> {
        self.events
            .iter()
            .find(|e| e.code == code)
            .and_then(|e| e.at)
    }
}

fn trimmed(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn date_fields(day: Option<i64>) -> (Option<String>, Option<i64>) {
    match day {
        Some(d) => (Some(crate::time::day_string(d)), Some(oslo_day_start(d))),
        None => (None, None),
    }
}

fn day_of(s: Option<&str>) -> Option<i64> {
    let p = parse_plo_time(s?)?;
    Some(crate::time::oslo_day(p.ms))
}

/// Reads a message's facts. Never fails: what the message lacks is `None`.
pub fn fact_of(message: &Message, input: FactInput) -> Fact {
    let head = message.head.as_ref();
    let plo = message.plo.as_ref();
    let copies: Vec<String> = head
        .map(|h| {
            h.other_receivers
                .iter()
                .filter_map(|o| o.her_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let copy_to_gp = input
        .copy_to_gp
        .unwrap_or_else(|| head.is_some_and(|h| h.other_receivers.iter().any(|o| o.person)));
    let events = plo
        .map(|p| {
            p.events
                .iter()
                .filter_map(|e| {
                    let code = trimmed(e.code())?;
                    let t = e.time.as_deref().and_then(parse_plo_time);
                    Some(FactEvent {
                        code,
                        at: t.map(|t| t.ms),
                        date_only: t.is_some_and(|t| t.date_only),
                        estimate: e.estimate,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut assessments = Vec::new();
    if let Some(p) = plo {
        for a in &p.functional_assessments {
            let overall_day = a
                .overall
                .as_ref()
                .and_then(|o| o.comment.expose().as_deref())
                .and_then(find_date_in_text);
            for f in &a.functions {
                let Some(variable) = f.variable_code().and_then(variable_number) else {
                    continue;
                };
                let (date, date_ms) = date_fields(day_of(f.date.as_deref()).or(overall_day));
                assessments.push(FactAssessment {
                    variable,
                    score: f.score,
                    date,
                    date_ms,
                    source: AssessmentSource::Plo,
                });
            }
        }
    }
    if let Some(profile) = &message.functional_profile {
        for v in &profile.variables {
            let Some(variable) = v.number().filter(|n| (1..=18).contains(n)) else {
                continue;
            };
            for (a, source) in [
                (&v.current, AssessmentSource::ProfileCurrent),
                (&v.habitual, AssessmentSource::ProfileHabitual),
            ] {
                if let Some(a) = a {
                    let (date, date_ms) = date_fields(day_of(a.date.as_deref()));
                    assessments.push(FactAssessment {
                        variable,
                        score: a.score.map(i64::from),
                        date,
                        date_ms,
                        source,
                    });
                }
            }
        }
    }
    let conv = head.and_then(|h| h.conversation_ref.as_ref());
    Fact {
        message_id: input.message_id,
        received_at: input.received_at,
        msg_type: trimmed(message.msg_type()),
        standard: message.standard.map(|s| s.family.as_str().to_owned()),
        version: message.standard.map(|s| s.version.as_str().to_owned()),
        sender: HerRef::of(message.sender()),
        receiver: HerRef::of(message.receiver()),
        copies,
        copy_to_gp,
        receiver_is_gp: input.receiver_is_gp,
        sender_municipality: input.sender_municipality,
        receiver_municipality: input.receiver_municipality,
        patient_key: input.patient_key,
        msg_id: trimmed(message.msg_id()),
        ref_to_parent: trimmed(conv.and_then(|c| c.ref_to_parent.as_deref())),
        ref_to_conversation: trimmed(conv.and_then(|c| c.ref_to_conversation.as_deref())),
        status: trimmed(plo.and_then(|p| p.status_code())),
        notice: plo
            .and_then(|p| p.notice())
            .map(|n| n.element_name().to_owned()),
        events,
        assessments,
        positive_apprec_at: input.positive_apprec_at,
    }
}

fn variable_number(code: &str) -> Option<u8> {
    let n: u8 = code.trim().parse().ok()?;
    (1..=18).contains(&n).then_some(n)
}
