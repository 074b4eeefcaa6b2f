//! A full disk under the store: the real `overgang serve` with its data
//! folder on a small tmpfs (mounted by the test; it needs root, as CI has,
//! and fails, not skips, without it).
//!
//! 1. Messages are posted until the gateway has acknowledged a few.
//! 2. A ballast file fills the file system to the last byte. Clients go on
//!    posting: every answer is 201 (the write fitted in space SQLite already
//!    had) or **503** with the store problem — never another status, never
//!    a hang — and the gateway goes on answering `/healthz`.
//! 3. The ballast is removed: intake answers 201 again, without a restart.
//! 4. SIGKILL, start again on the same file system: every message answered
//!    201 at any point is there (API, and `integrity_check` = ok).

mod support {
    pub mod corpus;
    pub mod server;
    pub mod tempdir;
}

use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::corpus::examples;
use support::server::{
    client, fresh, post_message as post, test_config, Server, TempDir, DEMO_TOKEN,
};

/// The tmpfs: small, so that filling it is quick.
const SIZE_MB: u64 = 24;

/// A tmpfs mounted at a path, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size_mb: u64) -> Mount {
        std::fs::create_dir_all(at).expect("mkdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_mb}m,mode=0700"))
            .arg("tmpfs")
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a {size_mb} MB tmpfs for the data folder and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount(at.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system refuses (ENOSPC); bytes
/// written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("create ballast");
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(28),
                    "ballast: expected ENOSPC, got {e}"
                );
                break;
            }
        }
    }
    // The last bytes: smaller writes until not even one byte fits.
    for size in [4096usize, 512, 1] {
        while f.write(&block[..size]).map(|n| n > 0).unwrap_or(false) {
            written += size as u64;
        }
    }
    let _ = f.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_acknowledged_and_recovers() {
    let tmp = TempDir::new("disk-full");
    let data = tmp.path().join("data");
    let mount = Mount::tmpfs(&data, SIZE_MB);
    // Intake only: the point is the store's writes.
    let config = test_config(tmp.path(), "[delivery]\nenabled = false\n");
    let log = tmp.path().join("gateway.log");
    let gw = Server::start(&config, &[], &log);
    let c = client();
    let corpus: Vec<Vec<u8>> = examples().into_iter().map(|(_, b)| b).collect();
    let mut acked: BTreeMap<String, String> = BTreeMap::new(); // id → MsgId
    let mut n = 0usize;
    let mut next = || {
        n += 1;
        fresh(&corpus[n % corpus.len()])
    };

    // 1. Room to spare.
    for _ in 0..20 {
        let (msg_id, bytes) = next();
        let (status, body) = post(&c, &gw.url, bytes).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acked.insert(body["id"].as_str().expect("id").to_owned(), msg_id);
    }

    // 2. Full.
    let ballast = data.join("ballast");
    let filled = fill(&ballast);
    let (mut created_full, mut refused) = (0, 0);
    let mut problem = serde_json::Value::Null;
    for _ in 0..300 {
        let (msg_id, bytes) = next();
        let (status, body) = post(&c, &gw.url, bytes).await;
        match status {
            StatusCode::CREATED => {
                created_full += 1;
                acked.insert(body["id"].as_str().expect("id").to_owned(), msg_id);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                problem = body;
            }
            other => panic!("on a full disk: {other} {body}"),
        }
        if refused >= 100 {
            break;
        }
    }
    assert!(refused > 0, "nothing was refused on a full disk");
    assert_eq!(problem["error"], "store", "{problem}");
    assert!(
        problem["text_nb"]
            .as_str()
            .is_some_and(|t| t.contains("kunne ikke lagres")),
        "{problem}"
    );
    assert!(
        problem["text_en"]
            .as_str()
            .is_some_and(|t| t.contains("could not be stored")),
        "{problem}"
    );
    let health = c
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);

    // 3. Space again: intake recovers by itself.
    std::fs::remove_file(&ballast).expect("remove ballast");
    let mut recovered_after = None;
    for i in 0..200 {
        let (msg_id, bytes) = next();
        let (status, body) = post(&c, &gw.url, bytes).await;
        if status == StatusCode::CREATED {
            acked.insert(body["id"].as_str().expect("id").to_owned(), msg_id);
            recovered_after = Some(i);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered_after = recovered_after.expect("intake did not recover once space returned");
    for _ in 0..20 {
        let (msg_id, bytes) = next();
        let (status, body) = post(&c, &gw.url, bytes).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acked.insert(body["id"].as_str().expect("id").to_owned(), msg_id);
    }
    let log_text = gw.log_text();
    assert!(!log_text.contains("panicked"), "{log_text}");

    // 4. SIGKILL and start again: everything acknowledged is there.
    gw.kill();
    let gw = Server::start(&config, &[], &log);
    for (id, msg_id) in &acked {
        let r = c
            .get(format!("{}/api/v1/messages/{id}", gw.url))
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{id} is gone");
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v["msg_id"], msg_id.as_str(), "{v}");
    }
    gw.kill();
    let conn = rusqlite::Connection::open_with_flags(
        data.join("overgang.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    drop(conn);
    eprintln!(
        "disk full: {SIZE_MB} MB tmpfs, ballast {:.1} MB; while full {created_full} answered 201 (in space SQLite had) and \
         {refused} answered 503; the first 201 came {recovered_after} requests after the space returned; \
         {} acknowledged in all, all there after SIGKILL and restart; integrity_check ok",
        filled as f64 / 1e6,
        acked.len()
    );
    drop(mount);
}
