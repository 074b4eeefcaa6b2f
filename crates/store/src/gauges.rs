//! What the metrics endpoint shows of the store when it is scraped: the
//! queues per destination and the store's size on disk. Only HER-ids
//! (organisations and their units, never patients), counts and times.

use crate::Millis;

/// The queues and the store's size at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueGauges {
    /// Every destination (receiver HER-id) with a delivery queued, in
    /// flight, dead-lettered, or delivered with its AppRec overdue; by
    /// HER-id.
    pub receivers: Vec<ReceiverGauges>,
    /// The database file and its write-ahead log, in bytes.
    pub size_bytes: u64,
}

/// One destination's queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverGauges {
    pub receiver_her: String,
    /// Deliveries `queued` (waiting for an attempt, or behind an earlier
    /// one about the same patient).
    pub queued: u64,
    /// When the oldest queued delivery was created (routed).
    pub oldest_queued_at: Option<Millis>,
    pub in_flight: u64,
    /// When the oldest delivery in flight was created (routed).
    pub oldest_in_flight_at: Option<Millis>,
    pub dead_letters: u64,
    /// `delivered` without an AppRec past the configured wait.
    pub apprecs_overdue: u64,
}
