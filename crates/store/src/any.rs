//! [`AnyStore`]: the backend the configuration chose, behind one type.
//!
//! The [`Store`] trait returns `impl Future`, so it cannot be a trait
//! object; the server holds this enum instead and every call is passed to
//! the backend inside. One `match` per call; nothing else.

use std::future::Future;

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
    pub fn kind(&self) -> &'static str {
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
    fn submit(
        &self,
        msg: NewMessage,
    ) -> impl Future<Output = Result<Submitted, StoreError>> + Send {
        async move { delegate!(self, s => s.submit(msg)) }
    }

    fn get(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<MessageRecord>, StoreError>> + Send {
        async move { delegate!(self, s => s.get(id)) }
    }

    fn apprec(&self, id: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send {
        async move { delegate!(self, s => s.apprec(id)) }
    }

    fn original(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send {
        async move { delegate!(self, s => s.original(id)) }
    }

    fn search(&self, q: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send {
        async move { delegate!(self, s => s.search(q)) }
    }

    fn transition(&self, t: Transition) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { delegate!(self, s => s.transition(t)) }
    }

    fn due(
        &self,
        now: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send {
        async move { delegate!(self, s => s.due(now, limit)) }
    }

    fn next_due(
        &self,
        after: Millis,
    ) -> impl Future<Output = Result<Option<Millis>, StoreError>> + Send {
        async move { delegate!(self, s => s.next_due(after)) }
    }

    fn claim(
        &self,
        ids: Vec<i64>,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send {
        async move { delegate!(self, s => s.claim(ids, now)) }
    }

    fn finish(
        &self,
        attempt: Attempt,
    ) -> impl Future<Output = Result<DeliveryState, StoreError>> + Send {
        async move { delegate!(self, s => s.finish(attempt)) }
    }

    fn recover(&self, now: Millis) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async move { delegate!(self, s => s.recover(now)) }
    }

    fn receipt_target(
        &self,
        original_msg_id: &str,
        receiver_hers: Vec<String>,
    ) -> impl Future<Output = Result<Option<ReceiptTarget>, StoreError>> + Send {
        async move { delegate!(self, s => s.receipt_target(original_msg_id, receiver_hers)) }
    }

    fn record_receipt(
        &self,
        delivery_id: i64,
        at: Millis,
        actor: String,
        receipt: NewReceipt,
    ) -> impl Future<Output = Result<ReceiptOutcome, StoreError>> + Send {
        async move { delegate!(self, s => s.record_receipt(delivery_id, at, actor, receipt)) }
    }

    fn deliveries_of(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError>> + Send {
        async move { delegate!(self, s => s.deliveries_of(message_id)) }
    }

    fn delivery(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError>> + Send
    {
        async move { delegate!(self, s => s.delivery(id)) }
    }

    fn list_deliveries(
        &self,
        q: &DeliveryQuery,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send {
        async move { delegate!(self, s => s.list_deliveries(q)) }
    }

    fn receipts_of(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Vec<Receipt>, StoreError>> + Send {
        async move { delegate!(self, s => s.receipts_of(message_id)) }
    }

    fn receipt_body(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send {
        async move { delegate!(self, s => s.receipt_body(id)) }
    }

    fn replay(
        &self,
        a: OperatorAction,
    ) -> impl Future<Output = Result<DeliveryState, StoreError>> + Send {
        async move { delegate!(self, s => s.replay(a)) }
    }

    fn cancel(
        &self,
        a: OperatorAction,
    ) -> impl Future<Output = Result<DeliveryState, StoreError>> + Send {
        async move { delegate!(self, s => s.cancel(a)) }
    }

    fn flag_overdue(
        &self,
        now: Millis,
        delivered_before: Millis,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send {
        async move { delegate!(self, s => s.flag_overdue(now, delivered_before)) }
    }

    fn alert(
        &self,
        kind: &str,
        subject: &str,
        text_nb: &str,
        text_en: &str,
        at: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { delegate!(self, s => s.alert(kind, subject, text_nb, text_en, at)) }
    }

    fn alerts(&self, limit: u32) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send {
        async move { delegate!(self, s => s.alerts(limit)) }
    }

    fn delivery_stats(
        &self,
        since: Millis,
    ) -> impl Future<Output = Result<DeliveryStats, StoreError>> + Send {
        async move { delegate!(self, s => s.delivery_stats(since)) }
    }

    fn worklist(&self, q: &WorkQuery) -> impl Future<Output = Result<Page, StoreError>> + Send {
        async move { delegate!(self, s => s.worklist(q)) }
    }

    fn log_access(&self, a: NewAccess) -> impl Future<Output = Result<i64, StoreError>> + Send {
        async move { delegate!(self, s => s.log_access(a)) }
    }

    fn access_log(
        &self,
        q: &AccessQuery,
    ) -> impl Future<Output = Result<Vec<AccessEntry>, StoreError>> + Send {
        async move { delegate!(self, s => s.access_log(q)) }
    }

    fn flow_facts(
        &self,
        since: Millis,
        patient_key: Option<String>,
    ) -> impl Future<Output = Result<Vec<FlowFactRow>, StoreError>> + Send {
        async move { delegate!(self, s => s.flow_facts(since, patient_key)) }
    }

    fn flow_facts_page(
        &self,
        since: Millis,
        after: Option<String>,
        patients: u32,
    ) -> impl Future<Output = Result<Vec<FlowFactRow>, StoreError>> + Send {
        async move { delegate!(self, s => s.flow_facts_page(since, after, patients)) }
    }

    fn set_flow_facts(
        &self,
        rows: Vec<FlowFactRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { delegate!(self, s => s.set_flow_facts(rows)) }
    }

    fn ready(&self) -> impl Future<Output = bool> + Send {
        async move { delegate!(self, s => s.ready()) }
    }

    fn close(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { delegate!(self, s => s.close()) }
    }

    fn queue_gauges(&self) -> impl Future<Output = Result<QueueGauges, StoreError>> + Send {
        async move { delegate!(self, s => s.queue_gauges()) }
    }

    fn destination_stats(
        &self,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<DestinationStats>, StoreError>> + Send {
        async move { delegate!(self, s => s.destination_stats(now)) }
    }

    fn purge_expired(
        &self,
        rules: Vec<RetentionRule>,
        now: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PurgedMessage>, StoreError>> + Send {
        async move { delegate!(self, s => s.purge_expired(rules, now, limit)) }
    }

    fn hold(
        &self,
        message_ids: Vec<String>,
        reason: String,
        at: Millis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async move { delegate!(self, s => s.hold(message_ids, reason, at)) }
    }

    fn release(
        &self,
        message_ids: Vec<String>,
        reason: String,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async move { delegate!(self, s => s.release(message_ids, reason)) }
    }

    fn purge_access_log(
        &self,
        before: Millis,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async move { delegate!(self, s => s.purge_access_log(before, limit)) }
    }

    fn incremental_vacuum(
        &self,
        pages: u32,
    ) -> impl Future<Output = Result<Space, StoreError>> + Send {
        async move { delegate!(self, s => s.incremental_vacuum(pages)) }
    }

    fn space(&self) -> impl Future<Output = Result<Space, StoreError>> + Send {
        async move { delegate!(self, s => s.space()) }
    }

    fn patient_flow_facts(
        &self,
        patient_key: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FlowFactRow>, StoreError>> + Send {
        async move { delegate!(self, s => s.patient_flow_facts(patient_key, limit)) }
    }
}
