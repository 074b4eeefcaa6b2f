//! The delivery stage's counters: attempts by kind and outcome, their
//! duration, and the receivers' AppRecs by status. Labels come from closed
//! sets (no HER-id, no message id); the gateway renders them on `/metrics`
//! beside its own.

use overgang_metrics::{Counter, Family, Histogram, Text};
use overgang_store::{AttemptResult, DeliveryKind};

/// Attempt outcomes, as the `outcome` label names them.
pub const OUTCOMES: [&str; 6] = [
    "delivered",
    "acknowledged",
    "acknowledged_with_errors",
    "rejected_by_receiver",
    "retry",
    "dead_letter",
];

/// How an AppRec reached the gateway: in the delivery's answer, or posted
/// later to `POST /api/v1/apprecs`.
pub const VIA: [&str; 2] = ["sync", "async"];

/// AppRec statuses (code list 8258): 1 OK, 2 rejected, 3 OK with errors.
pub const STATUSES: [&str; 3] = ["1", "2", "3"];

/// Upper bounds of the attempt-duration buckets, in seconds (an attempt is
/// bounded by `timeout_secs`, 30 by default).
pub const ATTEMPT_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug)]
pub struct DeliveryMetrics {
    /// By `kind` (message, receipt) and `outcome` ([`OUTCOMES`]).
    pub attempts: Family<Counter>,
    /// From the request's start to the whole answer read (or the failure).
    pub attempt_seconds: Histogram,
    /// Receivers' AppRecs stored, by `status` and `via`.
    pub receipts: Family<Counter>,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        DeliveryMetrics::new()
    }
}

/// The `outcome` label of a judged attempt.
pub fn outcome(result: &AttemptResult) -> &'static str {
    match result {
        AttemptResult::Delivered => "delivered",
        AttemptResult::Answered(r) => match r.status {
            1 => "acknowledged",
            3 => "acknowledged_with_errors",
            _ => "rejected_by_receiver",
        },
        AttemptResult::Retry { .. } => "retry",
        AttemptResult::DeadLetter { .. } => "dead_letter",
    }
}

impl DeliveryMetrics {
    pub fn new() -> DeliveryMetrics {
        DeliveryMetrics {
            attempts: Family::of(
                &["kind", "outcome"],
                &[&["message", "receipt"], &OUTCOMES],
                Counter::new,
            ),
            attempt_seconds: Histogram::new(&ATTEMPT_BUCKETS),
            receipts: Family::of(&["status", "via"], &[&STATUSES, &VIA], Counter::new),
        }
    }

    /// Counts an attempt the store recorded, by its [`outcome`].
    pub fn attempt(&self, kind: DeliveryKind, outcome: &str) {
        if let Some(c) = self.attempts.get(&[kind.as_str(), outcome]) {
            c.inc();
        }
    }

    /// Counts a receiver's AppRec the store kept (status 1, 2 or 3; `via`
    /// `sync` or `async`). Other statuses are counted as 2, as the store
    /// reads them.
    pub fn receipt(&self, status: u8, via: &str) {
        let status = match status {
            1 => "1",
            3 => "3",
            _ => "2",
        };
        if let Some(c) = self.receipts.get(&[status, via]) {
            c.inc();
        }
    }

    /// Writes the stage's metrics.
    pub fn render(&self, t: &mut Text) {
        t.counters(
            "overgang_delivery_attempts_total",
            "Delivery attempts recorded, by kind (message, receipt) and outcome.",
            &self.attempts,
            false,
        );
        t.histogram(
            "overgang_delivery_attempt_duration_seconds",
            "Time of one delivery attempt: connect, send, and read the answer.",
            &self.attempt_seconds,
        );
        t.counters(
            "overgang_receipts_total",
            "Receivers' AppRecs stored, by status (1 OK, 2 rejected, 3 OK with errors) and how they came (sync: in the delivery's answer, async: posted later).",
            &self.receipts,
            false,
        );
    }
}
