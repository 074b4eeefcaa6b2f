//! Backup and restore, end to end (docs/OPERATIONS.md, "Backup and
//! restore"): the real `overgang serve` takes messages while a backup is
//! taken, the backup is restored into a new store, a gateway started on
//! it finds every message acknowledged before the backup began — the same
//! metadata and history through the API, the same original bytes through
//! the store — and none of those acknowledged after the backup ended.
//!
//! - SQLite: `overgang store backup --data DIR --to FILE` while the
//!   gateway runs; restored by putting the file in a new data folder as
//!   `overgang.db`, and then in place of the original (killed) gateway's
//!   database as the operations guide says: its `-wal` and `-shm` removed.
//! - PostgreSQL: `pg_dump -Fc` while the gateway runs; restored with
//!   `pg_restore` into a fresh database. Each test makes its own databases
//!   on the server named by `OVERGANG_TEST_PG` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`) and drops them. Without
//!   a reachable server, or without a `pg_dump` of the server's major
//!   version, the test fails; it is not skipped.
//!
//! There is no HTTP endpoint that returns a message's original bytes (the
//! API gives metadata only), so the bytes are read with the store's own
//! `Store::original` once the restored gateway has stopped, and the API's
//! `sha256` is checked against the bytes sent.

mod support {
    pub mod corpus;
    pub mod pg;
    pub mod server;
    pub mod tempdir;
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use overgang_store::Store;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::pg::{psql_at, server_url, Db};
use support::server::{client, fresh, post_message, test_config, Server, TempDir, DEMO_TOKEN};

/// Messages posted (and answered 201) before the load and the backup start.
const BEFORE: usize = 16;

/// A message the gateway answered 201: its id and the bytes sent.
#[derive(Clone)]
struct Sent {
    id: String,
    bytes: Vec<u8>,
}

fn examples() -> Vec<Vec<u8>> {
    let all = support::corpus::examples();
    assert!(!all.is_empty(), "no official examples");
    all.into_iter().map(|(_, b)| b).collect()
}

/// Posts one fresh copy of example `i`; the message if answered 201.
async fn post_one(c: &reqwest::Client, url: &str, all: &[Vec<u8>], i: usize) -> Option<Sent> {
    let (_, bytes) = fresh(&all[i % all.len()]);
    let (st, v) = post_message(c, url, bytes.clone()).await;
    if st != StatusCode::CREATED {
        return None;
    }
    Some(Sent {
        id: v["id"].as_str().expect("id").to_owned(),
        bytes,
    })
}

async fn get_json(c: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let r = c
        .get(url)
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let st = r.status();
    let v = r.json().await.unwrap_or(Value::Null);
    (st, v)
}

/// Posts messages one after another until stopped: the load the gateway is
/// under while the backup is taken. Every message answered 201 is pushed
/// to `acked` as soon as the answer arrived.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Sent>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(c: &reqwest::Client, url: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (c, url, s, a) = (c.clone(), url.to_owned(), stop.clone(), acked.clone());
        let task = tokio::spawn(async move {
            let all = examples();
            let mut i = 0;
            while !s.load(Ordering::Acquire) {
                if let Some(m) = post_one(&c, &url, &all, i).await {
                    a.lock().expect("acked").push(m);
                }
                i += 1;
            }
        });
        Load { stop, acked, task }
    }

    fn count(&self) -> usize {
        self.acked.lock().expect("acked").len()
    }

    async fn wait_for(&self, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "the load did not get {n} messages in"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Acknowledged so far.
    fn snapshot(&self) -> Vec<Sent> {
        self.acked.lock().expect("acked").clone()
    }

    async fn stop(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("the load task");
        let acked = self.acked.lock().expect("acked").clone();
        acked
    }
}

/// Runs `f` (a backup command) on a blocking thread while the load goes on:
/// returns the messages acknowledged before the backup began, and how many
/// were acknowledged while it ran.
async fn backup_under_load(
    c: &reqwest::Client,
    url: &str,
    f: impl FnOnce() + Send + 'static,
) -> (Vec<Sent>, Vec<Sent>) {
    let load = Load::start(c, url);
    // The gateway is busy taking messages when the backup begins.
    load.wait_for(5).await;
    let acked_before = load.snapshot();
    tokio::task::spawn_blocking(f).await.expect("the backup");
    let acked_by_end = load.count();
    // And still after it ended.
    load.wait_for(acked_by_end + 3).await;
    let all = load.stop().await;
    eprintln!(
        "backup: {} acknowledged by the load before it began, {} while it ran, {} after",
        acked_before.len(),
        acked_by_end - acked_before.len(),
        all.len() - acked_by_end
    );
    let after = all[acked_by_end..].to_vec();
    (acked_before, after)
}

/// Every message of `must`: the same answer from `restored` as from
/// `original` (metadata, findings, history, deliveries), and its `sha256`
/// that of the bytes sent; every message of `gone` unknown to `restored`.
/// A message sent before is still recognised (the same id, `200`), and a
/// new one is taken.
async fn check_restored(
    c: &reqwest::Client,
    original: &str,
    restored: &str,
    must: &[Sent],
    gone: &[Sent],
) {
    for m in must {
        let (st, was) = get_json(c, &format!("{original}/api/v1/messages/{}", m.id)).await;
        assert_eq!(st, StatusCode::OK, "{} on the original", m.id);
        let (st, now) = get_json(c, &format!("{restored}/api/v1/messages/{}", m.id)).await;
        assert_eq!(
            st,
            StatusCode::OK,
            "{} missing from the restored store",
            m.id
        );
        assert_eq!(now, was, "{}: the restored store answers otherwise", m.id);
        let sha = hex(&Sha256::digest(&m.bytes));
        assert_eq!(now["sha256"].as_str(), Some(sha.as_str()), "{}", m.id);
        assert_eq!(now["size"].as_u64(), Some(m.bytes.len() as u64), "{}", m.id);
    }
    for m in gone {
        let (st, _) = get_json(c, &format!("{restored}/api/v1/messages/{}", m.id)).await;
        assert_eq!(
            st,
            StatusCode::NOT_FOUND,
            "{} was acknowledged after the backup ended, yet is in it",
            m.id
        );
    }
    let first = &must[0];
    let (st, v) = post_message(c, restored, first.bytes.clone()).await;
    assert_eq!(st, StatusCode::OK, "a replay after the restore: {v}");
    assert_eq!(v["id"].as_str(), Some(first.id.as_str()));
    let all = examples();
    assert!(
        post_one(c, restored, &all, 0).await.is_some(),
        "the restored gateway takes new messages"
    );
}

/// The original bytes of every message of `must`, read through the store.
async fn check_bytes(store: &impl Store, must: &[Sent]) {
    for m in must {
        let got = store
            .original(&m.id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", m.id))
            .unwrap_or_else(|| panic!("{}: no original bytes", m.id));
        assert!(got == m.bytes, "{}: the restored bytes differ", m.id);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn no_delivery(dir: &Path) -> PathBuf {
    // Delivery off: what is stored has a fixed answer (no state moves on
    // between the two gateways' answers).
    test_config(dir, "[delivery]\nenabled = false\n")
}

async fn post_before(c: &reqwest::Client, url: &str) -> Vec<Sent> {
    let all = examples();
    let mut v = Vec::new();
    for i in 0..BEFORE {
        v.push(
            post_one(c, url, &all, i)
                .await
                .expect("a message taken (201) before the backup"),
        );
    }
    v
}

// ---- SQLite ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_taken_while_the_gateway_runs_restores_every_acknowledged_message() {
    let tmp = TempDir::new("backup-sqlite");
    let c = client();
    let gw = Server::start(&no_delivery(tmp.path()), &[], &tmp.path().join("a.log"));
    let mut must = post_before(&c, &gw.url).await;

    let data = tmp.path().join("data");
    let file = tmp.path().join("overgang-backup.db");
    let (d, f) = (data.clone(), file.clone());
    let (acked, after) = backup_under_load(&c, &gw.url, move || {
        let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
            .args(["store", "backup", "--data"])
            .arg(&d)
            .arg("--to")
            .arg(&f)
            .output()
            .expect("run overgang store backup");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "overgang store backup failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.starts_with("backup: "), "{text}");
        eprintln!("{}", text.trim());
    })
    .await;
    must.extend(acked);

    // A second backup to the same file is refused, the first kept.
    let out = Command::new(env!("CARGO_BIN_EXE_overgang"))
        .args(["store", "backup", "--data"])
        .arg(&data)
        .arg("--to")
        .arg(&file)
        .output()
        .expect("run overgang store backup");
    assert!(!out.status.success(), "a backup over an existing file");

    // Restore: the file as overgang.db in a new data folder.
    let restored = TempDir::new("backup-sqlite-restored");
    std::fs::create_dir_all(restored.path().join("data")).expect("data folder");
    std::fs::copy(&file, restored.path().join("data/overgang.db")).expect("copy the backup");
    let gw2 = Server::start(
        &no_delivery(restored.path()),
        &[],
        &restored.path().join("b.log"),
    );
    check_restored(&c, &gw.url, &gw2.url, &must, &after).await;
    assert!(gw2.terminate(Duration::from_secs(20)).success());

    // The documented restore in place (docs/OPERATIONS.md): the gateway
    // stopped (here killed, so its -wal and -shm are left behind), the
    // backup put in place as overgang.db, the old -wal and -shm removed.
    gw.kill();
    let db = data.join("overgang.db");
    std::fs::rename(&db, data.join("overgang.db.old")).expect("set the old file aside");
    for f in ["overgang.db-wal", "overgang.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    std::fs::copy(&file, &db).expect("put the backup in place");
    let gw3 = Server::start(&no_delivery(tmp.path()), &[], &tmp.path().join("c.log"));
    for m in &must {
        let (st, _) = get_json(&c, &format!("{}/api/v1/messages/{}", gw3.url, m.id)).await;
        assert_eq!(st, StatusCode::OK, "{} after the restore in place", m.id);
    }
    for m in &after {
        let (st, _) = get_json(&c, &format!("{}/api/v1/messages/{}", gw3.url, m.id)).await;
        assert_eq!(
            st,
            StatusCode::NOT_FOUND,
            "{} after the restore in place",
            m.id
        );
    }
    assert!(gw3.terminate(Duration::from_secs(20)).success());

    let store = overgang_store::sqlite::SqliteStore::open(
        &restored.path().join("data"),
        overgang_store::sqlite::SqliteOptions::default(),
    )
    .expect("open the restored store");
    check_bytes(&store, &must).await;
    store.close().await.expect("close");
}

// ---- PostgreSQL -----------------------------------------------------------------

/// `pg_dump` or `pg_restore` of the server's major version: the server's
/// own (`/usr/lib/postgresql/N/bin`, Debian's layout) when it is there,
/// else the one on the PATH if its major version is the server's. Fails
/// with what to install otherwise.
fn pg_tool(name: &str) -> PathBuf {
    let num: u32 = psql_at(&server_url(), "SHOW server_version_num")
        .first()
        .and_then(|row| row.first())
        .expect("server_version_num")
        .parse()
        .expect("server_version_num is a number");
    let major = num / 10_000;
    let own = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin/{name}"));
    if own.is_file() {
        return own;
    }
    let out = Command::new(name).arg("--version").output().unwrap_or_else(|e| {
        panic!("{name} of PostgreSQL {major} is needed (Debian package postgresql-client-{major}): {e}")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    // "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
    let theirs: Option<u32> = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    assert_eq!(
        theirs,
        Some(major),
        "{name} on the PATH is {text:?}, the server is PostgreSQL {major}: install postgresql-client-{major}"
    );
    PathBuf::from(name)
}

fn start_pg(db: &Db, dir: &Path, node: &str) -> Server {
    Server::start_env(
        &no_delivery(dir),
        &[],
        &dir.join(format!("{node}.log")),
        &[
            ("OVERGANG_STORE__KIND", "postgres"),
            ("OVERGANG_STORE__URL", &db.url()),
            ("OVERGANG_STORE__NODE_ID", node),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_taken_while_the_gateway_runs_restores_every_acknowledged_message() {
    let pg_dump = pg_tool("pg_dump");
    let pg_restore = pg_tool("pg_restore");
    let db = Db::new();
    let tmp = TempDir::new("backup-pg");
    let c = client();
    let gw = start_pg(&db, tmp.path(), "node-a");
    let mut must = post_before(&c, &gw.url).await;

    let file = tmp.path().join("overgang.dump");
    let (f, url) = (file.clone(), db.url());
    let (acked, after) = backup_under_load(&c, &gw.url, move || {
        let out = Command::new(&pg_dump)
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(&f)
            .arg("--dbname")
            .arg(&url)
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
    must.extend(acked);

    // Restore into a fresh database.
    let copy = Db::new();
    let out = Command::new(&pg_restore)
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(copy.url())
        .arg(&file)
        .output()
        .expect("run pg_restore");
    assert!(
        out.status.success(),
        "pg_restore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gw2 = start_pg(&copy, tmp.path(), "node-b");
    check_restored(&c, &gw.url, &gw2.url, &must, &after).await;
    assert!(gw2.terminate(Duration::from_secs(20)).success());
    assert!(gw.terminate(Duration::from_secs(20)).success());

    let store = overgang_store::postgres::PgStore::connect(
        &copy.url(),
        overgang_store::postgres::PgOptions {
            node_id: "backup-check".into(),
            ..Default::default()
        },
    )
    .await
    .expect("connect to the restored database");
    check_bytes(&store, &must).await;
    store.close().await.expect("close");
}
