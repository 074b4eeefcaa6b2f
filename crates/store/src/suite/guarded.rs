//! [`Guarded`]: a store with what must outlive it, for running the suite.

use std::future::Future;

use crate::{
    AccessEntry, AccessQuery, Alert, Attempt, Delivery, DeliveryEvent, DeliveryQuery,
    DeliveryState, DeliveryStats, DestinationStats, Due, FlowFactRow, MessageRecord, Millis,
    NewAccess, NewMessage, NewReceipt, OperatorAction, Page, PurgedMessage, Query, QueueGauges,
    Receipt, ReceiptOutcome, ReceiptTarget, RetentionRule, Space, Store, StoreError, Submitted,
    Transition, WorkQuery,
};

/// Forwards each method to the store inside.
macro_rules! forward {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty; )*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = $out> + Send {
                self.store.$name($($arg),*)
            }
        )*
    };
}

/// A store with what must live as long as it (a temporary folder, a test
/// database), dropped after the store: what a backend's suite runs on.
pub struct Guarded<S, G> {
    pub store: S,
    pub guard: G,
}

impl<S: Store, G: Send + Sync + 'static> Store for Guarded<S, G> {
    forward! {
        fn submit(&self, msg: NewMessage) -> Result<Submitted, StoreError>;
        fn get(&self, id: &str) -> Result<Option<MessageRecord>, StoreError>;
        fn apprec(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
        fn original(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
        fn search(&self, q: &Query) -> Result<Page, StoreError>;
        fn transition(&self, t: Transition) -> Result<(), StoreError>;
        fn due(&self, now: Millis, limit: u32) -> Result<Vec<Due>, StoreError>;
        fn reclaim_expired(&self, now: Millis) -> Result<u64, StoreError>;
        fn announce_reload(&self) -> Result<(), StoreError>;
        fn next_due(&self, after: Millis) -> Result<Option<Millis>, StoreError>;
        fn claim(&self, ids: Vec<i64>, now: Millis) -> Result<Vec<i64>, StoreError>;
        fn finish(&self, attempt: Attempt) -> Result<DeliveryState, StoreError>;
        fn recover(&self, now: Millis) -> Result<u64, StoreError>;
        fn receipt_target(
            &self,
            original_msg_id: &str,
            receiver_hers: Vec<String>
        ) -> Result<Option<ReceiptTarget>, StoreError>;
        fn record_receipt(
            &self,
            delivery_id: i64,
            at: Millis,
            actor: String,
            receipt: NewReceipt
        ) -> Result<ReceiptOutcome, StoreError>;
        fn deliveries_of(
            &self,
            message_id: &str
        ) -> Result<Vec<(Delivery, Vec<DeliveryEvent>)>, StoreError>;
        fn delivery(&self, id: i64) -> Result<Option<(Delivery, Vec<DeliveryEvent>)>, StoreError>;
        fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;
        fn receipts_of(&self, message_id: &str) -> Result<Vec<Receipt>, StoreError>;
        fn receipt_body(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError>;
        fn replay(&self, a: OperatorAction) -> Result<DeliveryState, StoreError>;
        fn cancel(&self, a: OperatorAction) -> Result<DeliveryState, StoreError>;
        fn flag_overdue(&self, now: Millis, delivered_before: Millis) -> Result<Vec<i64>, StoreError>;
        fn alert(
            &self,
            kind: &str,
            subject: &str,
            text_nb: &str,
            text_en: &str,
            at: Millis
        ) -> Result<(), StoreError>;
        fn alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError>;
        fn delivery_stats(&self, since: Millis) -> Result<DeliveryStats, StoreError>;
        fn worklist(&self, q: &WorkQuery) -> Result<Page, StoreError>;
        fn log_access(&self, a: NewAccess) -> Result<i64, StoreError>;
        fn access_log(&self, q: &AccessQuery) -> Result<Vec<AccessEntry>, StoreError>;
        fn flow_facts(
            &self,
            since: Millis,
            patient_key: Option<String>
        ) -> Result<Vec<FlowFactRow>, StoreError>;
        fn flow_facts_page(
            &self,
            since: Millis,
            after: Option<String>,
            patients: u32
        ) -> Result<Vec<FlowFactRow>, StoreError>;
        fn set_flow_facts(&self, rows: Vec<FlowFactRow>) -> Result<(), StoreError>;
        fn ready(&self) -> bool;
        fn close(&self) -> Result<(), StoreError>;
        fn queue_gauges(&self) -> Result<QueueGauges, StoreError>;
        fn destination_stats(&self, now: Millis) -> Result<Vec<DestinationStats>, StoreError>;
        fn purge_expired(
            &self,
            rules: Vec<RetentionRule>,
            now: Millis,
            limit: u32
        ) -> Result<Vec<PurgedMessage>, StoreError>;
        fn hold(&self, message_ids: Vec<String>, reason: String, at: Millis) -> Result<u64, StoreError>;
        fn release(&self, message_ids: Vec<String>, reason: String) -> Result<u64, StoreError>;
        fn purge_access_log(&self, before: Millis, limit: u32) -> Result<u64, StoreError>;
        fn incremental_vacuum(&self, pages: u32) -> Result<Space, StoreError>;
        fn space(&self) -> Result<Space, StoreError>;
        fn patient_flow_facts(
            &self,
            patient_key: String,
            limit: u32
        ) -> Result<Vec<FlowFactRow>, StoreError>;
    }

    fn wakeups(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.store.wakeups()
    }

    fn reloads(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.store.reloads()
    }
}
