//! Durable submissions per second, with group commit on and off.
//!
//! ```text
//! cargo run --release -p overgang-store --example store_rate -- [DIR] [N] [C]
//! ```
//!
//! Submits `N` (default 2000) messages of 8 KiB from `C` (default 50)
//! concurrent tasks into a fresh store under `DIR` (default: a temporary
//! directory), once with group commit and once without. Every counted
//! submission was acknowledged, so it was committed with fsync. Put `DIR` on
//! the disk you mean to measure: a tmpfs has no fsync cost.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use overgang_store::sqlite::{SqliteOptions, SqliteStore};
use overgang_store::{Metadata, NewMessage, State, Store, Submitted};

const BODY: usize = 8 * 1024;

fn message(n: usize) -> NewMessage {
    let mut original = vec![b'x'; BODY];
    let tag = format!("<MsgId>{n:010}</MsgId>");
    original[..tag.len()].copy_from_slice(tag.as_bytes());
    // Not SHA-256: the store does not check it; it only has to differ.
    let mut sha256 = [0u8; 32];
    sha256[..8].copy_from_slice(&(n as u64).to_be_bytes());
    NewMessage {
        id: format!("{n:020}"),
        received_at: n as i64,
        system: "bench".into(),
        idempotency_key: Some(format!("8100001|{n}")),
        sha256,
        original,
        meta: Metadata {
            msg_id: Some(n.to_string()),
            msg_type: Some("INNLEGGELSESRAPPORT".into()),
            standard: Some("PLO 1.6".into()),
            sender_her: Some("8100001".into()),
            receiver_her: Some("8200002".into()),
            patient_key: Some(format!("{:064x}", n % 97)),

            ..Metadata::default()
        },
        verdict: "accepted".into(),
        findings_json: "[]".into(),
        apprec: vec![b'a'; 1200],
        apprec_status: 1,
        state: State::Accepted,
        actor: "system:bench".into(),
        reason: "received".into(),
        deliveries: Vec::new(),
        route_reason: String::new(),
    }
}

async fn run(dir: &Path, group_commit: bool, n: usize, c: usize) -> Result<f64, String> {
    let opts = SqliteOptions {
        group_commit,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(dir, opts).map_err(|e| e.to_string())?);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..c {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < n {
                match store.submit(message(i)).await {
                    Ok(Submitted::Created) => {}
                    other => return Err(format!("submission {i}: {other:?}")),
                }
                i += c;
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let secs = start.elapsed().as_secs_f64();
    store.close().await.map_err(|e| e.to_string())?;
    Ok(n as f64 / secs)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = args
        .first()
        .map(Path::new)
        .unwrap_or(temp.path())
        .to_path_buf();
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i)
            .map(|s| s.parse().map_err(|_| format!("not a number: {s}")))
            .unwrap_or(Ok(default))
            .map(|v: usize| v.max(1))
    };
    let n = number(1, 2000)?;
    let c = number(2, 50)?;
    println!(
        "{n} submissions of {} KiB from {c} tasks in {}",
        BODY / 1024,
        dir.display()
    );
    for (label, group_commit) in [("group commit on ", true), ("group commit off", false)] {
        let sub = dir.join(if group_commit { "on" } else { "off" });
        if sub.exists() {
            return Err(format!("{} exists; give an empty directory", sub.display()));
        }
        let rate = run(&sub, group_commit, n, c).await?;
        println!("{label}: {rate:8.0} durable submissions/s");
    }
    Ok(())
}
