//! The durable message store.
//!
//! The gateway keeps every message it has answered: the original bytes, what
//! it read from them (metadata, never patient content in clear), its
//! findings, the AppRec it sent, and an append-only history of state changes.
//! [`Store`] is the contract; [`sqlite::SqliteStore`] is the embedded backend,
//! and `postgres::PgStore` (cargo feature `postgres`) the backend for several
//! gateway nodes sharing one PostgreSQL database.
//!
//! The one promise that matters: when [`Store::submit`] returns `Ok`, the
//! message and its first history entry are durably committed (fsync), so the
//! caller may answer the sender. Concurrent submissions are committed in
//! groups (one fsync for many messages) but none is acknowledged before its
//! group is durable.
//!
//! The store does not parse messages and does not know the message model: it
//! stores what the intake stage hands it. It never logs content.
//!
//! What every backend must do is written down as a test suite, `suite`
//! (with the `suite` feature, or in this crate's tests): one generic test
//! function per part of the contract, and `store_suite!` to run them all
//! against a backend.

use std::future::Future;

pub mod any;
mod cursor;
pub mod delivery;
pub mod gauges;
pub mod ops;
pub mod people;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod retention;
pub mod sqlite;
#[cfg(any(test, feature = "suite"))]
pub mod suite;

// So that `overgang_store::store_suite!` reads the same inside this crate
// (a backend's tests here) as outside it.
#[cfg(any(test, feature = "suite"))]
extern crate self as overgang_store;

pub use any::AnyStore;
pub use delivery::{
    Alert, Attempt, AttemptResult, Delivery, DeliveryEvent, DeliveryKind, DeliveryQuery,
    DeliveryState, DeliveryStats, Due, NewDelivery, NewReceipt, OperatorAction, Receipt,
    ReceiptOutcome, ReceiptTarget,
};
pub use gauges::{QueueGauges, ReceiverGauges};
pub use ops::DestinationStats;
pub use people::{AccessEntry, AccessQuery, NewAccess, WorkQuery};
pub use retention::{PurgedMessage, RetentionRule, Space};

/// Milliseconds since 1970-01-01T00:00:00Z (UTC).
pub type Millis = i64;

/// Errors of the store. Texts never contain message content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: could not open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("store: database error: {0}")]
    Database(String),
    #[error("store: the store is closed")]
    Closed,
    #[error("store: no message {0}")]
    NotFound(String),
    /// A state change whose `from` is not the message's current state.
    #[error("store: message {id} is in state {actual}, not {expected}")]
    StateConflict {
        id: String,
        expected: String,
        actual: String,
    },
    #[error("store: bad cursor")]
    BadCursor,
    #[error("store: no delivery {0}")]
    NoDelivery(i64),
    /// An operator action the delivery's state does not allow.
    #[error("store: delivery {id} is {state}; {what}")]
    NotAllowed {
        id: i64,
        state: String,
        what: &'static str,
    },
}

/// Where a message is in its life. Intake sets `Accepted` or `Rejected`;
/// routing and delivery move accepted messages on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Valid (possibly with warnings), durably stored, not yet routed.
    Accepted,
    /// Refused at intake (an error finding); kept for inspection only.
    Rejected,
    /// Routed, waiting in a destination's queue.
    Queued,
    /// A delivery attempt is under way or will be retried.
    Delivering,
    /// Every receiver took it; at least one AppRec has not come yet.
    Delivered,
    /// Every receiver answered with a positive AppRec (status 1 or 3).
    Acknowledged,
    /// A receiver answered with a rejecting AppRec (status 2).
    RejectedByReceiver,
    /// Delivery gave up; waits for a person.
    DeadLettered,
    /// A person cancelled it.
    Cancelled,
    /// Removed by retention: only a tombstone is left (no body, no patient
    /// key, no index rows) and its history, which ends `… → deleted`.
    Deleted,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Accepted,
        State::Rejected,
        State::Queued,
        State::Delivering,
        State::Delivered,
        State::Acknowledged,
        State::RejectedByReceiver,
        State::DeadLettered,
        State::Cancelled,
        State::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Accepted => "accepted",
            State::Rejected => "rejected",
            State::Queued => "queued",
            State::Delivering => "delivering",
            State::Delivered => "delivered",
            State::Acknowledged => "acknowledged",
            State::RejectedByReceiver => "rejected_by_receiver",
            State::DeadLettered => "dead_lettered",
            State::Cancelled => "cancelled",
            State::Deleted => "deleted",
        }
    }

    /// Whether retention may delete a message in this state. Never a
    /// message still to be routed or delivered (`accepted`, `queued`,
    /// `delivering`), one waiting for a person (`dead_lettered`), or one
    /// already deleted.
    pub fn deletable(self) -> bool {
        matches!(
            self,
            State::Rejected
                | State::Delivered
                | State::Acknowledged
                | State::RejectedByReceiver
                | State::Cancelled
        )
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a message's append-only history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: Millis,
    /// Who made the change: `system:<name>` for a sender system,
    /// `gateway` for the gateway itself, `user:<name>` for a person.
    pub actor: String,
    /// `None` for the first entry (the message arrived).
    pub from: Option<State>,
    pub to: State,
    /// Why, in words for operators; never patient content.
    pub reason: String,
}

/// The metadata the intake stage read from a message. No patient content:
/// the patient is present only as a keyed hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `MsgInfo/MsgId` as sent.
    pub msg_id: Option<String>,
    /// `MsgInfo/Type/@V`, e.g. `INNLEGGELSESRAPPORT`.
    pub msg_type: Option<String>,
    /// Standard and version of the main document, e.g. `PLO 1.6`.
    pub standard: Option<String>,
    /// HER-id of the sending organisation (or its most specific unit).
    pub sender_her: Option<String>,
    /// HER-id of the receiving organisation (or its most specific unit).
    pub receiver_her: Option<String>,
    /// HMAC of the patient's national id under the deployment's key (hex).
    pub patient_key: Option<String>,
    /// Every HER-id the message names as sender, receiver or copy receiver
    /// (organisations and their units), and the receivers routing added:
    /// a nurse of one of these units sees the message. Organisation ids,
    /// not patient data.
    pub parties: Vec<String>,
    /// Keyed hashes of the patient's normalised name words (the same key
    /// as `patient_key`), so a person may search by name without names
    /// being stored in clear. Written at intake; never read back.
    pub name_terms: Vec<String>,
    /// What patient flow needs of the message (`overgang_flow::Fact` as
    /// JSON: types, parties, events, assessments, the patient's keyed hash;
    /// no names or ids). Written at intake; read by `flow_facts`.
    pub flow_fact: Option<String>,
}

/// What intake hands the store for one message.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The gateway's own id for the message (a UUID, time-ordered).
    pub id: String,
    pub received_at: Millis,
    /// The authenticated sender system (config name).
    pub system: String,
    /// `sender HER-id + "|" + MsgId` when both are known: the same key with
    /// the same bytes is the same message; with other bytes it is a conflict.
    /// `None` (unreadable message) disables the idempotency check.
    pub idempotency_key: Option<String>,
    /// SHA-256 of `original`.
    pub sha256: [u8; 32],
    pub original: Vec<u8>,
    pub meta: Metadata,
    /// `accepted`, `accepted_with_warnings` or `rejected`.
    pub verdict: String,
    /// The findings as JSON (an array), as the API shows them.
    pub findings_json: String,
    /// The AppRec sent as the answer (XML bytes) and its status (1, 2, 3).
    pub apprec: Vec<u8>,
    pub apprec_status: u8,
    /// `Accepted` or `Rejected`.
    pub state: State,
    /// The first history entry's actor and reason.
    pub actor: String,
    pub reason: String,
    /// Where routing sends it (only for an accepted message). When not
    /// empty the message is stored `queued` with its deliveries, and a
    /// second history entry `accepted → queued` says where, with
    /// `route_reason`.
    pub deliveries: Vec<NewDelivery>,
    pub route_reason: String,
}

/// One message's flow fact as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowFactRow {
    pub message_id: String,
    pub patient_key: Option<String>,
    pub received_at: Millis,
    /// The fact as JSON.
    pub fact: String,
    /// When the first positive AppRec answering the message arrived (read
    /// only; ignored by `set_flow_facts`).
    pub positive_apprec_at: Option<Millis>,
}

/// The answer already given for a stored message (for idempotent replays).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub id: String,
    pub verdict: String,
    pub findings_json: String,
    pub apprec: Vec<u8>,
    pub apprec_status: u8,
    pub state_at_intake: State,
}

/// The outcome of [`Store::submit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Stored and durable.
    Created,
    /// The same key and the same bytes were stored before: nothing stored.
    Duplicate(StoredAnswer),
    /// The same key with other bytes: nothing stored.
    Conflict { existing_id: String },
}

/// A stored message's metadata, findings and history (no content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// What a search shows of it.
    pub summary: Summary,
    pub sha256: [u8; 32],
    pub findings_json: String,
    pub history: Vec<HistoryEntry>,
}

/// A row of a search result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub received_at: Millis,
    pub updated_at: Millis,
    pub system: String,
    pub meta: Metadata,
    pub size: u64,
    pub verdict: String,
    pub state: State,
    pub apprec_status: u8,
    /// Findings of severity error and warning (counted at intake).
    pub errors: u32,
    pub warnings: u32,
}

/// Metadata search. Results are ordered by `(received_at, id)` ascending;
/// `cursor` continues after the last row of the previous page, so pages are
/// stable while new messages arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub sender_her: Option<String>,
    pub receiver_her: Option<String>,
    pub msg_type: Option<String>,
    pub state: Option<State>,
    /// Only messages posted by this system (a sender system sees its own).
    pub system: Option<String>,
    /// `received_at >= since`.
    pub since: Option<Millis>,
    /// `received_at < until`.
    pub until: Option<Millis>,
    /// 1..=1000; 0 means the default, 100.
    pub limit: u32,
    /// From [`Page::next`].
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Summary>,
    /// Present when there may be more rows.
    pub next: Option<String>,
}

/// A state change requested by routing, delivery or a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub id: String,
    pub at: Millis,
    pub actor: String,
    /// The state the caller believes the message is in (compare-and-set).
    pub from: State,
    pub to: State,
    pub reason: String,
}

/// The durable store. Every method is safe to call from many tasks at once.
pub trait Store: Send + Sync + 'static {
    /// Stores a new message with its first history entry, or reports that
    /// its idempotency key is taken. Returns only when the outcome is durable.
    fn submit(&self, msg: NewMessage)
        -> impl Future<Output = Result<Submitted, StoreError>> + Send;

    /// Metadata, findings and history; `None` when there is no such id.
    fn get(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<MessageRecord>, StoreError>> + Send;

    /// The AppRec sent for the message.
    fn apprec(&self, id: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// The original bytes, exactly as received.
    fn original(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    fn search(&self, q: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Appends a history entry and moves the message to `to`, if it is in
    /// `from`; durable when it returns.
    fn transition(&self, t: Transition) -> impl Future<Output = Result<(), StoreError>> + Send;

    // --- Deliveries -------------------------------------------------------

    /// Deliveries due at `now`, oldest first, at most `limit`: `queued`,
    /// `next_attempt_at <= now`, and no earlier delivery to the same
    /// receiver about the same patient still `queued` or `in_flight`.
    fn due(
        &self,
        now: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send;

    /// When the next queued delivery falls due after `after` (`None`:
    /// nothing is queued for later). Deliveries already due but waiting
    /// behind an earlier one are not counted: what they wait for wakes them.
    fn next_due(
        &self,
        after: Millis,
    ) -> impl Future<Output = Result<Option<Millis>, StoreError>> + Send;

    /// Moves each of `ids` that is still due from `queued` to `in_flight`
    /// and counts the attempt; durable when it returns. Returns the ids
    /// claimed (others were taken, cancelled or replayed meanwhile).
    fn claim(
        &self,
        ids: Vec<i64>,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Records how a claimed attempt ended. A delivery no longer
    /// `in_flight` (answered asynchronously meanwhile, cancelled) keeps its
    /// state; the attempt is still recorded in its events. Dead letters
    /// raise an alert in the same transaction.
    fn finish(
        &self,
        attempt: Attempt,
    ) -> impl Future<Output = Result<DeliveryState, StoreError>> + Send;

    /// At start: every `in_flight` delivery (its attempt was cut off by a
    /// stop or a crash) goes back to `queued`, due at `now`. Returns how many.
    fn recover(&self, now: Millis) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// While running, on a store several nodes share: every `in_flight`
    /// delivery whose claim's lease ran out at or before `now` (the node
    /// that claimed it died or froze mid-attempt) goes back to `queued`, due
    /// at `now`, as [`Store::recover`] does for a node's own cut-off
    /// attempts at start. Live claims of any node are left alone. Returns
    /// how many. A store only one node uses has no leases: 0.
    fn reclaim_expired(&self, now: Millis) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let _ = now;
        async { Ok(0) }
    }

    /// The delivery an asynchronous AppRec answers: the newest message
    /// delivery whose message has `MsgId` `original_msg_id` and whose
    /// receiver is one of `receiver_hers`.
    fn receipt_target(
        &self,
        original_msg_id: &str,
        receiver_hers: Vec<String>,
    ) -> impl Future<Output = Result<Option<ReceiptTarget>, StoreError>> + Send;

    /// Stores an asynchronous AppRec for a delivery and moves it on.
    fn record_receipt(
        &self,
        delivery_id: i64,
        at: Millis,
        actor: String,
        receipt: NewReceipt,
    ) -> impl Future<Output = Result<ReceiptOutcome, StoreError>> + Send;

    /// A message's deliveries (oldest first) with their events.
    fn deliveries_of(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError>> + Send;

    /// One delivery with its events.
    fn delivery(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError>> + Send;

    fn list_deliveries(
        &self,
        q: &DeliveryQuery,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;

    /// A message's receipts from its receivers, oldest first.
    fn receipts_of(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Vec<Receipt>, StoreError>> + Send;

    /// A receipt's AppRec as received.
    fn receipt_body(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// A person sends a dead-lettered or cancelled delivery again: `queued`,
    /// due now, with a fresh attempt budget.
    fn replay(
        &self,
        a: OperatorAction,
    ) -> impl Future<Output = Result<DeliveryState, StoreError>> + Send;

    /// A person cancels a delivery that is not answered yet.
    fn cancel(
        &self,
        a: OperatorAction,
    ) -> impl Future<Output = Result<DeliveryState, StoreError>> + Send;

    /// Flags `delivered` deliveries without an AppRec since before
    /// `delivered_before`, once each, with an event and an alert. Returns
    /// the ids flagged now.
    fn flag_overdue(
        &self,
        now: Millis,
        delivered_before: Millis,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Raises an alert (also logged by the caller).
    fn alert(
        &self,
        kind: &str,
        subject: &str,
        text_nb: &str,
        text_en: &str,
        at: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest alerts first (in the order they were raised), at most
    /// `limit`.
    fn alerts(&self, limit: u32) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send;

    /// Counts by state, and arrival-to-AppRec latencies since `since`.
    fn delivery_stats(
        &self,
        since: Millis,
    ) -> impl Future<Output = Result<DeliveryStats, StoreError>> + Send;

    /// A worklist page: messages matching `q`, newest first.
    fn worklist(&self, q: &WorkQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Records a look at patient data (durably, before the data is shown).
    /// The access log is append-only: nothing updates or deletes it.
    fn log_access(&self, a: NewAccess) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Reads the access log, newest first.
    fn access_log(
        &self,
        q: &AccessQuery,
    ) -> impl Future<Output = Result<Vec<AccessEntry>, StoreError>> + Send;

    /// The flow facts of messages received at or after `since` (of one
    /// patient when `patient_key` is given: their newest 200 at most),
    /// oldest first, each with the time of the first positive AppRec
    /// (status 1 or 3) that answered it.
    fn flow_facts(
        &self,
        since: Millis,
        patient_key: Option<String>,
    ) -> impl Future<Output = Result<Vec<FlowFactRow>, StoreError>> + Send;

    /// The flow facts received at or after `since` of the next `patients`
    /// patients (by keyed hash, in order) after `after` (from the first
    /// when `None`), ordered by patient and time, each with its first
    /// positive AppRec's time. Facts without a patient are not included
    /// (no stay can take them). A patient's flow depends only on their own
    /// facts, so the flow of all patients can be computed page by page in
    /// memory bounded by the page, not by the store.
    fn flow_facts_page(
        &self,
        since: Millis,
        after: Option<String>,
        patients: u32,
    ) -> impl Future<Output = Result<Vec<FlowFactRow>, StoreError>> + Send;

    /// Writes (or replaces) messages' flow facts: `overgang flow rebuild`.
    /// Rows of messages the store does not have, or has deleted, are
    /// skipped.
    fn set_flow_facts(
        &self,
        rows: Vec<FlowFactRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the store is open and answers (a cheap read).
    fn ready(&self) -> impl Future<Output = bool> + Send;

    /// A notify that gets a permit when another process sharing the store
    /// made deliveries due (PostgreSQL: `LISTEN overgang_deliveries`), so
    /// the delivery stage wakes at once instead of at its next poll.
    /// `None` (the default) for a store only this process writes.
    fn wakeups(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// A notify that gets a permit when some process sharing the store
    /// asked for the registry file to be reloaded ([`Store::announce_reload`];
    /// PostgreSQL: `LISTEN overgang_reload`). `None` (the default) for a
    /// store of one process.
    fn reloads(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// Asks every process sharing the store (this one included) to reload
    /// its registry file (PostgreSQL: `NOTIFY overgang_reload,
    /// 'registry'`). Nothing to do (the default) for a store of one process.
    fn announce_reload(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Finishes pending writes and closes the store; later calls fail with
    /// [`StoreError::Closed`].
    fn close(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The open queues per destination (queued, in flight, dead letters,
    /// overdue AppRecs) and the store's size on disk, for the metrics
    /// endpoint. Costs what the queues hold, not what the store holds.
    fn queue_gauges(&self) -> impl Future<Output = Result<QueueGauges, StoreError>> + Send;

    /// One row per destination ever delivered to (by HER-id): its queue,
    /// its dead letters, its overdue receipts, and what was delivered and
    /// what failed in the hour before `now` ([`ops::RECENT_MS`]).
    fn destination_stats(
        &self,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<DestinationStats>, StoreError>> + Send;

    // --- Retention (docs/RELIABILITY.md, "Retention") ----------------------

    /// Deletes at most `limit` messages whose state has a rule in `rules`
    /// and whose last change is more than the rule's days before `now`,
    /// oldest first, in one transaction. A message is never deleted while
    /// it is not [`State::deletable`], while any of its deliveries is
    /// queued, in flight or a dead letter, or while it is held
    /// ([`Store::hold`]); rules for other states are ignored. What is left
    /// is a tombstone in state `deleted` and its history, which gets the
    /// entry `… → deleted` (actor `gateway`, reason `retention: N days`).
    fn purge_expired(
        &self,
        rules: Vec<RetentionRule>,
        now: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PurgedMessage>, StoreError>> + Send;

    /// Holds messages against retention for `reason` (e.g. the patient-flow
    /// stage: `stay:<id>` while the stay is open). A message may have many
    /// holds; it is kept while any is left. Unknown and deleted ids are
    /// skipped. Returns how many holds were added.
    fn hold(
        &self,
        message_ids: Vec<String>,
        reason: String,
        at: Millis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Lifts the holds `reason` put on `message_ids`. Returns how many.
    fn release(
        &self,
        message_ids: Vec<String>,
        reason: String,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Access log retention, the only way anything leaves the access log:
    /// moves the log's cut-off forward to `before` (it never moves back)
    /// and deletes at most `limit` entries older than it. Returns how many.
    fn purge_access_log(
        &self,
        before: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Gives back to the file system up to `pages` free pages (SQLite's
    /// incremental vacuum; nothing when the database is not in incremental
    /// auto-vacuum mode). Returns the space afterwards.
    fn incremental_vacuum(
        &self,
        pages: u32,
    ) -> impl Future<Output = Result<Space, StoreError>> + Send;

    /// The database's pages: in use, free, and its auto-vacuum mode.
    fn space(&self) -> impl Future<Output = Result<Space, StoreError>> + Send;

    /// One patient's newest `limit` flow facts (oldest first), without
    /// their AppRec times: what intake and the nurse's page need to place
    /// a message and find an earlier assessment, at a cost bounded by
    /// `limit` however long the patient's history.
    fn patient_flow_facts(
        &self,
        patient_key: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FlowFactRow>, StoreError>> + Send;
}
