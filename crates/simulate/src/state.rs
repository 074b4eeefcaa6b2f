//! What the receiver remembers: the current behaviour, the generator for
//! `flaky`, and the book of what arrived (for deduplication and for the
//! control endpoints). No patient data is kept: message ids, types, HER-ids
//! and the receipts written, never the messages.

use crate::rng::Rng;
use crate::{Behaviour, ReceiverOptions, SimulateError};
use overgang_apprec::AppRecStatus;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Where an `async` receipt is on its way to the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackState {
    /// Not posted yet, or being retried.
    Pending,
    /// The gateway answered 2xx.
    Delivered,
    /// Every attempt failed (or the gateway refused it for good).
    Failed,
}

/// One message, as `GET /_sim/received` lists it: ids and HER-ids only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReceivedMessage {
    /// The message's MsgId (`None` when it had none or was not XML).
    pub msg_id: Option<String>,
    /// `MsgInfo/Type`, e.g. `LOG_INNLAGT`.
    pub msg_type: Option<String>,
    /// The sender's most specific HER-id (level 2 if any, else level 1).
    pub sender_her: Option<String>,
    /// The receiver's most specific HER-id.
    pub receiver_her: Option<String>,
    /// The request path it came to (`/plo`).
    pub path: String,
    /// When it first arrived, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// How many times this MsgId arrived (1 + duplicates).
    pub times: u32,
    /// The status of the AppRec it got: `"1"`, `"2"` or `"3"`.
    pub apprec_status: String,
    /// The AppRec's own id (the same for every duplicate).
    pub receipt_id: String,
    /// For `async`: where the receipt is on its way to the gateway.
    pub callback: Option<CallbackState>,
}

/// The counts beside the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Distinct messages processed (entries in the list).
    pub messages: u64,
    /// Arrivals of a MsgId already processed, answered with the first receipt.
    pub duplicates: u64,
    /// Requests answered without processing: `http:CODE`, `retry-after`,
    /// a `flaky` failure, a missing or wrong token.
    pub refused: u64,
    /// Connections or requests closed without an answer (`down`).
    pub dropped: u64,
}

/// `GET /_sim/received`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Received {
    pub received: Vec<ReceivedMessage>,
    pub totals: Totals,
}

/// One application receipt that came to a receipts path (a callback).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReceiptRecord {
    /// `OriginalMsgId/Id`: the message the receipt answers.
    pub original_msg_id: Option<String>,
    /// `Status` `V` as sent (`"1"`, `"2"`, `"3"`).
    pub status: Option<String>,
    /// The receipt's own `Id`.
    pub receipt_id: Option<String>,
    pub path: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// `GET /_sim/receipts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipts {
    pub receipts: Vec<ReceiptRecord>,
}

/// A message's entry: the public record and the receipt that answered it.
pub(crate) struct Entry {
    pub(crate) record: ReceivedMessage,
    pub(crate) apprec: Arc<str>,
}

#[derive(Default)]
pub(crate) struct Book {
    pub(crate) entries: Vec<Entry>,
    /// MsgId → index in `entries`.
    pub(crate) by_msg_id: HashMap<String, usize>,
    pub(crate) receipts: Vec<ReceiptRecord>,
    pub(crate) totals: Totals,
}

/// What the book says about an arrival.
pub(crate) enum Arrival {
    /// First time: recorded at this index.
    New(usize),
    /// Seen before: the receipt it got then, and its index.
    Duplicate(usize),
}

impl Book {
    /// Records a message with the receipt `make` writes — unless its MsgId
    /// was seen before, in which case it is only counted. One lock, so the
    /// same MsgId arriving twice at once is still processed once.
    pub(crate) fn arrive(
        &mut self,
        msg_id: Option<&str>,
        make: impl FnOnce() -> Result<Entry, SimulateError>,
    ) -> Result<Arrival, SimulateError> {
        if let Some(i) = msg_id.and_then(|m| self.by_msg_id.get(m)).copied() {
            if let Some(e) = self.entries.get_mut(i) {
                e.record.times = e.record.times.saturating_add(1);
                self.totals.duplicates += 1;
                return Ok(Arrival::Duplicate(i));
            }
        }
        let entry = make()?;
        let i = self.entries.len();
        self.entries.push(entry);
        if let Some(m) = msg_id {
            self.by_msg_id.insert(m.to_owned(), i);
        }
        self.totals.messages += 1;
        Ok(Arrival::New(i))
    }
}

/// Everything the receiver shares between connections.
pub(crate) struct State {
    pub(crate) opts: ReceiverOptions,
    pub(crate) behaviour: watch::Sender<Behaviour>,
    pub(crate) rng: Mutex<Rng>,
    pub(crate) book: Mutex<Book>,
    pub(crate) lists: overgang_codelists::CodeLists,
    /// For `async` receipts; built when there is a gateway.
    pub(crate) client: Option<reqwest::Client>,
    pub(crate) callbacks: Mutex<tokio::task::JoinSet<()>>,
}

/// Locks a mutex, going on after a panic elsewhere (the data stay usable:
/// every change to them is a single step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn status_code(s: AppRecStatus) -> String {
    s.code().to_owned()
}

impl State {
    pub(crate) fn behaviour(&self) -> Behaviour {
        *self.behaviour.borrow()
    }

    /// Switches behaviour; `async` needs a gateway to post receipts to.
    pub(crate) fn set_behaviour(&self, b: Behaviour) -> Result<(), SimulateError> {
        if b == Behaviour::Async && self.client.is_none() {
            return Err(SimulateError::NeedsGateway);
        }
        self.behaviour.send_replace(b);
        Ok(())
    }

    pub(crate) fn received(&self) -> Received {
        let book = lock(&self.book);
        Received {
            received: book.entries.iter().map(|e| e.record.clone()).collect(),
            totals: book.totals,
        }
    }

    pub(crate) fn receipts(&self) -> Receipts {
        Receipts {
            receipts: lock(&self.book).receipts.clone(),
        }
    }

    pub(crate) fn count_refused(&self) {
        lock(&self.book).totals.refused += 1;
    }

    pub(crate) fn count_dropped(&self) {
        lock(&self.book).totals.dropped += 1;
    }

    pub(crate) fn set_callback(&self, index: usize, s: CallbackState) {
        if let Some(e) = lock(&self.book).entries.get_mut(index) {
            e.record.callback = Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Result<Entry, SimulateError> {
        Ok(Entry {
            record: ReceivedMessage {
                msg_id: Some(id.to_owned()),
                msg_type: None,
                sender_her: None,
                receiver_her: None,
                path: "/plo".into(),
                at_ms: 0,
                times: 1,
                apprec_status: "1".into(),
                receipt_id: format!("r-{id}"),
                callback: None,
            },
            apprec: Arc::from(format!("apprec for {id}")),
        })
    }

    #[test]
    fn a_msg_id_seen_before_is_counted_not_processed() {
        let mut b = Book::default();
        assert!(matches!(
            b.arrive(Some("a"), || entry("a")),
            Ok(Arrival::New(0))
        ));
        assert!(matches!(
            b.arrive(Some("b"), || entry("b")),
            Ok(Arrival::New(1))
        ));
        let again = b.arrive(Some("a"), || panic!("a duplicate must not be processed"));
        assert!(matches!(again, Ok(Arrival::Duplicate(0))));
        let again = b.arrive(Some("a"), || panic!("a duplicate must not be processed"));
        assert!(matches!(again, Ok(Arrival::Duplicate(0))));
        assert_eq!(b.entries[0].record.times, 3);
        assert_eq!(b.entries[1].record.times, 1);
        assert_eq!(&*b.entries[0].apprec, "apprec for a");
        assert_eq!(b.totals.messages, 2);
        assert_eq!(b.totals.duplicates, 2);
    }

    #[test]
    fn messages_without_a_msg_id_are_each_their_own() {
        let mut b = Book::default();
        assert!(matches!(b.arrive(None, || entry("x")), Ok(Arrival::New(0))));
        assert!(matches!(b.arrive(None, || entry("y")), Ok(Arrival::New(1))));
        assert_eq!(b.totals.messages, 2);
        assert_eq!(b.totals.duplicates, 0);
    }

    #[test]
    fn a_failed_receipt_records_nothing() {
        let mut b = Book::default();
        let r = b.arrive(Some("a"), || Err(SimulateError::AppRec("x".into())));
        assert!(r.is_err());
        assert!(b.entries.is_empty() && b.by_msg_id.is_empty());
        assert!(matches!(
            b.arrive(Some("a"), || entry("a")),
            Ok(Arrival::New(0))
        ));
    }
}
