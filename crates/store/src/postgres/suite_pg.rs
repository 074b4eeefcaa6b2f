//! The backend-agnostic suite ([`crate::suite`]) run against the
//! PostgreSQL store: one test per suite function, each on a fresh database
//! of its own (see [`super::tests`] for the server), dropped with the store.

use super::tests::TestDb;
use super::PgStore;
use crate::suite::Guarded;

/// A PostgreSQL store on a database of its own (dropped after the store).
async fn temp_store() -> Guarded<PgStore, TestDb> {
    let db = TestDb::new().await;
    let store = db.store().await;
    Guarded { store, guard: db }
}

overgang_store::store_suite!(async { temp_store().await });
