//! What the operators' pages ask of the store: one summary row per
//! destination (a receiver's HER-id), for the queue dashboard.

use crate::Millis;

/// How long "recent" is on the dashboard: the hour before `now`.
pub const RECENT_MS: Millis = 3_600_000;

/// A destination's queue at a glance: what waits, what failed, what is
/// overdue. Every count is of deliveries (messages and receipts alike) to
/// `receiver_her`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationStats {
    pub receiver_her: String,
    /// Waiting for an attempt (including retries and held ones).
    pub queued: u64,
    /// When the longest-waiting queued delivery entered the queue (its
    /// creation, or the replay that put it back).
    pub oldest_queued_at: Option<Millis>,
    /// An attempt is under way.
    pub in_flight: u64,
    /// Given up; waiting for a person.
    pub dead_letters: u64,
    /// Taken by the receiver in the hour before `now`.
    pub delivered_recent: u64,
    /// Attempts that ended without delivery (retry or dead letter) in the
    /// hour before `now`.
    pub failed_recent: u64,
    /// Delivered, and the receiver's AppRec is overdue.
    pub overdue_receipts: u64,
    /// The newest error of a delivery still waiting (queued or dead letter),
    /// and when it was recorded.
    pub last_error: Option<(Millis, String)>,
}
