//! The backend-agnostic suite ([`crate::suite`]) run against the SQLite
//! store: one test per suite function, each on a fresh database in its own
//! temporary folder, which lives as long as the store.

use super::{SqliteOptions, SqliteStore};
use crate::suite::Guarded;

/// A SQLite store in a temporary folder of its own (removed after the
/// store is dropped).
fn temp_store() -> Guarded<SqliteStore, tempfile::TempDir> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    Guarded { store, guard: dir }
}

overgang_store::store_suite!(async { temp_store() });
