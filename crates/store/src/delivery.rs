//! Deliveries: one per (message, receiver), each with its own state, and the
//! receipts and alerts that belong to them.
//!
//! A delivery is created with its message, in the same transaction, when
//! routing names the receivers. The delivery stage then moves it on:
//!
//! ```text
//! queued ─claim→ in_flight ─→ acknowledged | acknowledged_with_errors
//!   ↑                │       ─→ rejected_by_receiver
//!   └──── retry ─────┤       ─→ delivered (no AppRec yet) ─→ acknowledged…
//!                    └─────→ dead_letter ─replay→ queued
//! any but acknowledged… ─cancel (a person)→ cancelled
//! ```
//!
//! Every change appends a row to the delivery's own append-only event list.
//! Order: a delivery is *due* only when no earlier delivery to the same
//! receiver about the same patient is still `queued` or `in_flight`.

use crate::{Millis, State};

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Queued,
    /// Claimed by the delivery stage; an attempt is under way.
    InFlight,
    /// The receiver took it; its AppRec has not come yet.
    Delivered,
    /// The receiver's AppRec said OK (status 1).
    Acknowledged,
    /// The receiver's AppRec said OK with errors (status 3).
    AcknowledgedWithErrors,
    /// The receiver's AppRec said rejected (status 2).
    RejectedByReceiver,
    /// Delivery gave up; waits for a person (replay or cancel).
    DeadLetter,
    /// A person cancelled it.
    Cancelled,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 8] = [
        DeliveryState::Queued,
        DeliveryState::InFlight,
        DeliveryState::Delivered,
        DeliveryState::Acknowledged,
        DeliveryState::AcknowledgedWithErrors,
        DeliveryState::RejectedByReceiver,
        DeliveryState::DeadLetter,
        DeliveryState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Acknowledged => "acknowledged",
            DeliveryState::AcknowledgedWithErrors => "acknowledged_with_errors",
            DeliveryState::RejectedByReceiver => "rejected_by_receiver",
            DeliveryState::DeadLetter => "dead_letter",
            DeliveryState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The receiver has answered with an AppRec: nothing is ever sent again.
    pub fn is_answered(self) -> bool {
        matches!(
            self,
            DeliveryState::Acknowledged
                | DeliveryState::AcknowledgedWithErrors
                | DeliveryState::RejectedByReceiver
        )
    }

    /// A person may replay it (send it again): given up, cancelled, or
    /// taken but never answered.
    pub fn replayable(self) -> bool {
        matches!(
            self,
            DeliveryState::DeadLetter | DeliveryState::Cancelled | DeliveryState::Delivered
        )
    }

    /// A person may cancel it.
    pub fn cancellable(self) -> bool {
        matches!(
            self,
            DeliveryState::Queued
                | DeliveryState::InFlight
                | DeliveryState::Delivered
                | DeliveryState::DeadLetter
        )
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// The message's original bytes, to a receiver.
    Message,
    /// A receiver's AppRec, back to the sender's callback endpoint.
    Receipt,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Message => "message",
            DeliveryKind::Receipt => "receipt",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryKind> {
        match s {
            "message" => Some(DeliveryKind::Message),
            "receipt" => Some(DeliveryKind::Receipt),
            _ => None,
        }
    }
}

/// A delivery routing asks for, stored with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// The receiver's HER-id.
    pub receiver_her: String,
    /// Why it goes there: `primary`, `other_receiver`, `copy:<rule>`.
    pub role: String,
    /// The first event's reason (bilingual; no patient content).
    pub reason: String,
}

/// A delivery as the API and the operator see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub message_id: String,
    pub kind: DeliveryKind,
    pub receiver_her: String,
    pub role: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub next_attempt_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub answered_at: Option<Millis>,
    pub last_error: Option<String>,
    /// Delivered, and no AppRec came within the configured time.
    pub apprec_overdue: bool,
    /// For a receipt delivery: the receipt it carries.
    pub receipt_id: Option<i64>,
    /// The message's type and sender (for lists), from the message row.
    pub msg_type: Option<String>,
    pub sender_her: Option<String>,
}

/// One entry of a delivery's append-only event list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryEvent {
    pub at: Millis,
    /// `gateway`, `system:<name>`, `user:<name>`.
    pub actor: String,
    pub from: Option<DeliveryState>,
    pub to: DeliveryState,
    pub reason: String,
}

/// A delivery that is due, as the delivery stage needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub message_id: String,
    pub kind: DeliveryKind,
    pub receiver_her: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the current attempt window began (creation, or the last replay):
    /// the age limit counts from here.
    pub window_start: Millis,
    pub receipt_id: Option<i64>,
    /// The original message's `MsgId`, sender HER-id and type.
    pub msg_id: Option<String>,
    pub sender_her: Option<String>,
    pub msg_type: Option<String>,
}

/// A receiver's AppRec, to be stored with the delivery it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReceipt {
    /// 1, 2 or 3 (list 8258).
    pub status: u8,
    /// The AppRec's own `Id`.
    pub apprec_msg_id: Option<String>,
    /// The HER-id that sent it (the receiver).
    pub from_her: Option<String>,
    /// `sync` (in the HTTP answer) or `async` (posted later).
    pub via: &'static str,
    /// The AppRec as received.
    pub body: Vec<u8>,
    /// When the sender has a callback endpoint: queue the receipt to it
    /// (its HER-id).
    pub callback_to: Option<String>,
}

/// A stored receipt (without its body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub id: i64,
    pub message_id: String,
    pub delivery_id: i64,
    pub received_at: Millis,
    pub status: u8,
    pub apprec_msg_id: Option<String>,
    pub from_her: Option<String>,
    pub via: String,
}

/// How an attempt ended, as the delivery stage reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// Taken, no AppRec in the answer (wait for one, or none is due: a
    /// receipt delivered to a callback is done here).
    Delivered,
    /// Taken, and answered with an AppRec.
    Answered(NewReceipt),
    /// Failed; try again at `next_attempt_at`. `error` says what failed and
    /// when the next attempt is, for people (bilingual).
    Retry {
        next_attempt_at: Millis,
        error: String,
    },
    /// Failed for good (a refusal that retrying cannot change, or the
    /// attempts or age ran out).
    DeadLetter { error: String },
}

/// What the delivery stage reports for one claimed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: i64,
    pub at: Millis,
    pub result: AttemptResult,
}

/// The outcome of storing an asynchronous receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Stored; the delivery is now in this state.
    Stored {
        receipt_id: i64,
        state: DeliveryState,
    },
    /// The same AppRec (same `Id`) was stored before: nothing changed.
    Duplicate { receipt_id: i64 },
}

/// Which delivery an asynchronous AppRec answers: looked up by the original
/// `MsgId` and the receiver's HER-ids (level 1 and 2 of the AppRec's sender).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptTarget {
    pub delivery_id: i64,
    pub message_id: String,
    pub state: DeliveryState,
    /// The original message's sender HER-id (for the callback decision).
    pub sender_her: Option<String>,
    /// The system that posted the original message.
    pub system: String,
}

/// An operator's filter over deliveries. Results are newest first
/// (descending id); `before` continues after the last row of a page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub state: Option<DeliveryState>,
    pub receiver_her: Option<String>,
    pub message_id: Option<String>,
    pub overdue_only: bool,
    /// 1..=1000; 0 means 100.
    pub limit: u32,
    /// Only ids below this (the last id of the previous page).
    pub before: Option<i64>,
}

/// An operator's action on one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorAction {
    pub delivery_id: i64,
    pub at: Millis,
    /// `user:<name>` or `system:<name>`.
    pub actor: String,
    pub reason: String,
}

/// Something that needs a person's attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub at: Millis,
    /// `dead_letter`, `apprec_overdue`, `registry`, …
    pub kind: String,
    /// What it is about: a delivery id, a file name.
    pub subject: String,
    pub text_nb: String,
    pub text_en: String,
}

/// Counts and latencies for operators and benchmarks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryStats {
    /// Deliveries per state (all time).
    pub by_state: Vec<(DeliveryState, u64)>,
    /// Among message deliveries answered at or after `since`: how many, and
    /// the time from the message's arrival to the receiver's AppRec
    /// (milliseconds; p50, p90, p99, max). A percentile `q` is the value at
    /// index `round((n - 1) × q)` of the sorted latencies (the store suite's
    /// `stats_count_states_and_latencies` pins it).
    pub answered: u64,
    pub latency_ms: Option<[i64; 4]>,
}

/// The message's state as its deliveries make it (the worst one wins):
/// any dead letter; else any still to be sent (`delivering` once tried);
/// else any rejected by its receiver; else any without an AppRec
/// (`delivered`); else every one answered OK (`acknowledged`); all
/// cancelled → `cancelled`.
pub fn aggregate(states: &[(DeliveryState, u32)]) -> Option<State> {
    use DeliveryState as D;
    if states.is_empty() {
        return None;
    }
    let any = |f: &dyn Fn(D) -> bool| states.iter().any(|(s, _)| f(*s));
    Some(if any(&|s| s == D::DeadLetter) {
        State::DeadLettered
    } else if any(&|s| matches!(s, D::Queued | D::InFlight)) {
        if states
            .iter()
            .any(|(s, a)| matches!(s, D::Queued | D::InFlight) && *a > 0 || *s == D::InFlight)
        {
            State::Delivering
        } else {
            State::Queued
        }
    } else if states.iter().all(|(s, _)| *s == D::Cancelled) {
        State::Cancelled
    } else if any(&|s| s == D::RejectedByReceiver) {
        State::RejectedByReceiver
    } else if any(&|s| s == D::Delivered) {
        State::Delivered
    } else {
        State::Acknowledged
    })
}

/// A delivery state as a backend stored it.
pub(crate) fn dstate(s: &str) -> Result<DeliveryState, crate::StoreError> {
    DeliveryState::parse(s).ok_or_else(|| {
        crate::StoreError::Database("an unknown delivery state in the database".into())
    })
}

/// A delivery kind as a backend stored it.
pub(crate) fn dkind(s: &str) -> Result<DeliveryKind, crate::StoreError> {
    DeliveryKind::parse(s).ok_or_else(|| {
        crate::StoreError::Database("an unknown delivery kind in the database".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryState as D;

    #[test]
    fn states_round_trip() {
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryState::parse("nope"), None);
    }

    #[test]
    fn aggregate_worst_wins() {
        assert_eq!(aggregate(&[]), None);
        assert_eq!(aggregate(&[(D::Queued, 0)]), Some(State::Queued));
        assert_eq!(aggregate(&[(D::Queued, 2)]), Some(State::Delivering));
        assert_eq!(aggregate(&[(D::InFlight, 1)]), Some(State::Delivering));
        assert_eq!(
            aggregate(&[(D::Acknowledged, 1), (D::DeadLetter, 9)]),
            Some(State::DeadLettered)
        );
        assert_eq!(
            aggregate(&[(D::Acknowledged, 1), (D::Delivered, 1)]),
            Some(State::Delivered)
        );
        assert_eq!(
            aggregate(&[(D::AcknowledgedWithErrors, 1), (D::Acknowledged, 1)]),
            Some(State::Acknowledged)
        );
        assert_eq!(
            aggregate(&[(D::RejectedByReceiver, 1), (D::Acknowledged, 1)]),
            Some(State::RejectedByReceiver)
        );
        assert_eq!(
            aggregate(&[(D::Cancelled, 1), (D::Acknowledged, 1)]),
            Some(State::Acknowledged)
        );
        assert_eq!(aggregate(&[(D::Cancelled, 1)]), Some(State::Cancelled));
    }
}
