//! [`AnyStore`]: the backend the configuration chose, behind one type.
//!
//! The [`Store`] trait returns `impl Future`, so it cannot be a trait
//! object; the server holds this enum instead and every call is passed to
//! the backend inside. One `match` per call; nothing else.

use crate::*;

/// The embedded SQLite store or, with the `postgres` feature, a shared
/// PostgreSQL database.
pub enum AnyStore {
    Sqlite(sqlite::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgStore),
}

impl AnyStore {
    /// `sqlite` or `postgres`, for logs and the operators' page.
    pub async fn kind(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(_) => "postgres",
        }
    }

    /// The SQLite store inside, if that is the backend.
    pub fn as_sqlite(&self) -> Option<&sqlite::SqliteStore> {
        match self {
            AnyStore::Sqlite(s) => Some(s),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(_) => None,
        }
    }
}

impl From<sqlite::SqliteStore> for AnyStore {
    fn from(s: sqlite::SqliteStore) -> Self {
        AnyStore::Sqlite(s)
    }
}

#[cfg(feature = "postgres")]
impl From<postgres::PgStore> for AnyStore {
    fn from(s: postgres::PgStore) -> Self {
        AnyStore::Postgres(s)
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn submit(&self, msg: NewMessage) -> Result<Submitted, StoreError> {
        delegate!(self, s => s.submit(msg))
    }

    async fn get(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        delegate!(self, s => s.get(id))
    }

    async fn apprec(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, s => s.apprec(id))
    }

    async fn original(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, s => s.original(id))
    }

    async fn search(&self, q: &Query) -> Result<Page, StoreError> {
        delegate!(self, s => s.search(q))
    }

    async fn transition(&self, t: Transition) -> Result<(), StoreError> {
        delegate!(self, s => s.transition(t))
    }

    async fn due(&self, now: Millis, limit: u32) -> Result<Vec<Due>, StoreError> {
        delegate!(self, s => s.due(now, limit))
    }

    async fn next_due(&self, after: Millis) -> Result<Option<Millis>, StoreError> {
        delegate!(self, s => s.next_due(after))
    }

    async fn claim(&self, ids: Vec<i64>, now: Millis) -> Result<Vec<i64>, StoreError> {
        delegate!(self, s => s.claim(ids, now))
    }

    async fn finish(&self, attempt: Attempt) -> Result<DeliveryState, StoreError> {
        delegate!(self, s => s.finish(attempt))
    }

    async fn recover(&self, now: Millis) -> Result<u64, StoreError> {
        delegate!(self, s => s.recover(now))
    }

    async fn reclaim_expired(&self, now: Millis) -> Result<u64, StoreError> {
        delegate!(self, s => s.reclaim_expired(now))
    }

    async fn receipt_target(
        &self,
        original_msg_id: &str,
        receiver_hers: Vec<String>,
    ) -> Result<Option<ReceiptTarget>, StoreError> {
        delegate!(self, s => s.receipt_target(original_msg_id, receiver_hers))
    }

    async fn record_receipt(
        &self,
        delivery_id: i64,
        at: Millis,
        actor: String,
        receipt: NewReceipt,
    ) -> Result<ReceiptOutcome, StoreError> {
        delegate!(self, s => s.record_receipt(delivery_id, at, actor, receipt))
    }

    async fn deliveries_of(
        &self,
        message_id: &str,
    ) -> Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
        delegate!(self, s => s.deliveries_of(message_id))
    }

    async fn delivery(
        &self,
        id: i64,
    ) -> Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError> {
        delegate!(self, s => s.delivery(id))
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        delegate!(self, s => s.list_deliveries(q))
    }

    async fn receipts_of(&self, message_id: &str) -> Result<Vec<Receipt>, StoreError> {
        delegate!(self, s => s.receipts_of(message_id))
    }

    async fn receipt_body(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, s => s.receipt_body(id))
    }

    async fn replay(&self, a: OperatorAction) -> Result<DeliveryState, StoreError> {
        delegate!(self, s => s.replay(a))
    }

    async fn cancel(&self, a: OperatorAction) -> Result<DeliveryState, StoreError> {
        delegate!(self, s => s.cancel(a))
    }

    async fn flag_overdue(
        &self,
        now: Millis,
        delivered_before: Millis,
    ) -> Result<Vec<i64>, StoreError> {
        delegate!(self, s => s.flag_overdue(now, delivered_before))
    }

    async fn alert(
        &self,
        kind: &str,
        subject: &str,
        text_nb: &str,
        text_en: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.alert(kind, subject, text_nb, text_en, at))
    }

    async fn alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        delegate!(self, s => s.alerts(limit))
    }

    async fn delivery_stats(&self, since: Millis) -> Result<DeliveryStats, StoreError> {
        delegate!(self, s => s.delivery_stats(since))
    }

    async fn worklist(&self, q: &WorkQuery) -> Result<Page, StoreError> {
        delegate!(self, s => s.worklist(q))
    }

    async fn log_access(&self, a: NewAccess) -> Result<i64, StoreError> {
        delegate!(self, s => s.log_access(a))
    }

    async fn access_log(&self, q: &AccessQuery) -> Result<Vec<AccessEntry>, StoreError> {
        delegate!(self, s => s.access_log(q))
    }

    async fn flow_facts(
        &self,
        since: Millis,
        patient_key: Option<String>,
    ) -> Result<Vec<FlowFactRow>, StoreError> {
        delegate!(self, s => s.flow_facts(since, patient_key))
    }

    async fn flow_facts_page(
        &self,
        since: Millis,
        after: Option<String>,
        patients: u32,
    ) -> Result<Vec<FlowFactRow>, StoreError> {
        delegate!(self, s => s.flow_facts_page(since, after, patients))
    }

    async fn set_flow_facts(&self, rows: Vec<FlowFactRow>) -> Result<(), StoreError> {
        delegate!(self, s => s.set_flow_facts(rows))
    }

    async fn ready(&self) -> bool {
        delegate!(self, s => s.ready())
    }

    fn wakeups(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        match self {
            AnyStore::Sqlite(s) => s.wakeups(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.wakeups(),
        }
    }

    fn reloads(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        match self {
            AnyStore::Sqlite(s) => s.reloads(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.reloads(),
        }
    }

    async fn announce_reload(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.announce_reload())
    }

    async fn close(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.close())
    }

    async fn queue_gauges(&self) -> Result<QueueGauges, StoreError> {
        delegate!(self, s => s.queue_gauges())
    }

    async fn destination_stats(&self, now: Millis) -> Result<Vec<DestinationStats>, StoreError> {
        delegate!(self, s => s.destination_stats(now))
    }

    async fn purge_expired(
        &self,
        rules: Vec<RetentionRule>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<PurgedMessage>, StoreError> {
        delegate!(self, s => s.purge_expired(rules, now, limit))
    }

    async fn hold(
        &self,
        message_ids: Vec<String>,
        reason: String,
        at: Millis,
    ) -> Result<u64, StoreError> {
        delegate!(self, s => s.hold(message_ids, reason, at))
    }

    async fn release(&self, message_ids: Vec<String>, reason: String) -> Result<u64, StoreError> {
        delegate!(self, s => s.release(message_ids, reason))
    }

    async fn purge_access_log(&self, before: Millis, limit: u32) -> Result<u64, StoreError> {
        delegate!(self, s => s.purge_access_log(before, limit))
    }

    async fn incremental_vacuum(&self, pages: u32) -> Result<Space, StoreError> {
        delegate!(self, s => s.incremental_vacuum(pages))
    }

    async fn space(&self) -> Result<Space, StoreError> {
        delegate!(self, s => s.space())
    }

    async fn patient_flow_facts(
        &self,
        patient_key: String,
        limit: u32,
    ) -> Result<Vec<FlowFactRow>, StoreError> {
        delegate!(self, s => s.patient_flow_facts(patient_key, limit))
    }
}
