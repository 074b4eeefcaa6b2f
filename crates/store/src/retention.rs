//! Retention: how long messages are kept, what a deletion leaves, and the
//! space the database holds. The policy (days per state) is the
//! deployment's; the store enforces what may never be deleted.

use crate::{Millis, State};

/// One day in milliseconds.
pub const DAY_MS: Millis = 86_400_000;

/// Messages in `state` are deleted `days` after their last change
/// (`updated_at`). A rule for a state that is not [`State::deletable`], or
/// with 0 days, deletes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionRule {
    pub state: State,
    pub days: u32,
}

impl RetentionRule {
    /// Messages last changed before this instant are due, or `None` when
    /// the rule deletes nothing.
    pub fn cutoff(&self, now: Millis) -> Option<Millis> {
        if self.days == 0 || !self.state.deletable() {
            return None;
        }
        Some(now.saturating_sub(Millis::from(self.days).saturating_mul(DAY_MS)))
    }
}

/// A message retention deleted: its id (the gateway's own, no patient
/// data), the state it was in and the rule's days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgedMessage {
    pub id: String,
    pub from: State,
    pub days: u32,
}

/// The database's size in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    pub page_size: u64,
    pub page_count: u64,
    /// Pages free inside the file (given back by an incremental vacuum).
    pub freelist_count: u64,
    /// `PRAGMA auto_vacuum` is `INCREMENTAL` (2).
    pub incremental: bool,
}
