//! What the people's pages (the web UI) ask of the store: a unit's
//! worklist, and the access log of who looked at which patient's data.

use crate::{Millis, State};

/// A nurse's worklist: messages sent to or from some units, newest first.
/// Every filter is optional; `units: None` means every unit (a person who
/// may see all, e.g. an operator searching metadata).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkQuery {
    /// HER-ids; a message matches when one of its parties is among them.
    /// `Some(empty)` matches nothing.
    pub units: Option<Vec<String>>,
    pub msg_type: Option<String>,
    pub state: Option<State>,
    /// `received_at >= since`.
    pub since: Option<Millis>,
    /// `received_at < until`.
    pub until: Option<Millis>,
    /// Only messages with at least one warning or error.
    pub with_findings: bool,
    /// Only this patient (the keyed hash of a national id).
    pub patient_key: Option<String>,
    /// Only messages whose patient's name has every one of these words
    /// (keyed hashes, as in `Metadata::name_terms`).
    pub name_terms: Vec<String>,
    /// Exact metadata: the gateway's id, or the sender's MsgId.
    pub id: Option<String>,
    pub msg_id: Option<String>,
    pub sender_her: Option<String>,
    pub receiver_her: Option<String>,
    /// 1..=1000; 0 means the default, 50.
    pub limit: u32,
    /// From `Page::next` of the previous page (pages go back in time).
    pub cursor: Option<String>,
}

/// One look at patient data, or one patient search, as it is recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewAccess {
    pub at: Millis,
    /// The person (user name, or an identity provider's subject).
    pub user: String,
    /// `view_message`, `search_patient`, `list`, `denied`, …
    pub action: String,
    /// The message looked at, when one was.
    pub message_id: Option<String>,
    /// The patient concerned, as the keyed hash of the national id.
    pub patient_key: Option<String>,
    /// What was searched, described without patient data (e.g. "national
    /// id" or "name, 2 words"); the values themselves are in `patient_key`
    /// and `name_terms` as keyed hashes.
    pub query: Option<String>,
    /// Keyed hashes of the name words searched, space-separated.
    pub name_terms: Option<String>,
    /// The unit (HER-id) the person acted for, when known.
    pub unit: Option<String>,
    /// `ok` or `denied`.
    pub outcome: String,
}

/// A recorded access, with its place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    pub seq: i64,
    pub access: NewAccess,
}

/// A filter on the access log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessQuery {
    pub user: Option<String>,
    /// Entries about this patient: views of their messages and searches for
    /// their national id.
    pub patient_key: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Entries with `seq` below this (the next page).
    pub before: Option<i64>,
    /// 1..=10000; 0 means 100.
    pub limit: u32,
}
