//! The address registry as the running gateway holds it.
//!
//! The registry itself (format, checks, inheritance) is the pure crate
//! [`overgang_registry`]; this module reads its file, holds the current
//! registry behind a lock that readers take only to clone an `Arc`, and
//! reloads it:
//!
//! - when the file's modification time or size changes (polled every
//!   `registry.poll_secs`, default 5; 0 turns polling off),
//! - on SIGHUP,
//! - on `POST /api/v1/admin/registry/reload` (a system with `admin = true`),
//!   which on a shared store (PostgreSQL) also asks every other node to
//!   reload its file ([`overgang_store::Store::announce_reload`]),
//! - when another node asks that ([`overgang_store::Store::reloads`]).
//!
//! A file that does not read or does not check leaves the current registry
//! in place; the error (file:line, never a secret's value) is logged and
//! shown under `registry.last_error` in `/readyz` until a reload succeeds.
//! At start a broken file stops the gateway instead.

use overgang_registry::Registry;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{timefmt, ServerError};

/// Reads and checks a registry file. The error text names the file and
/// line of every problem.
pub fn read(path: &Path) -> Result<Registry, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: could not read the registry file: {e}", path.display()))?;
    Registry::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())
}

/// What identifies a version of the file on disk.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug)]
struct Status {
    loaded_at: i64,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    /// The file as it was when last tried (loaded or refused), so a broken
    /// file is not retried on every poll.
    seen: Stamp,
}

/// The current registry and how it got there.
#[derive(Debug)]
pub struct RegistryHandle {
    path: Option<PathBuf>,
    current: RwLock<Arc<Registry>>,
    status: Mutex<Status>,
}

/// Why a reload was asked for (for the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    FileChanged,
    Sighup,
    Api,
    /// Another node sharing the store reloaded through its admin API
    /// (PostgreSQL's `NOTIFY overgang_reload`).
    Peer,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::FileChanged => "file changed",
            Trigger::Sighup => "SIGHUP",
            Trigger::Api => "admin API",
            Trigger::Peer => "another node's admin API",
        }
    }
}

impl RegistryHandle {
    /// Loads the file at start; a broken file is an error. No file: an
    /// empty registry.
    pub fn load(path: Option<&Path>) -> Result<RegistryHandle, ServerError> {
        let (registry, seen) = match path {
            Some(p) => {
                let seen = stamp(p);
                let r = read(p).map_err(|reason| ServerError::Config {
                    place: "registry.file".into(),
                    reason,
                })?;
                (r, seen)
            }
            None => (Registry::default(), None),
        };
        Ok(RegistryHandle {
            path: path.map(Path::to_owned),
            current: RwLock::new(Arc::new(registry)),
            status: Mutex::new(Status {
                loaded_at: now_millis(),
                last_error: None,
                last_error_at: None,
                seen,
            }),
        })
    }

    /// The registry in force now. Cheap: a read lock and an `Arc` clone.
    pub fn current(&self) -> Arc<Registry> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        match self.status.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Reads the file again (blocking IO). On success the new registry is
    /// in force and the number of parties returned; on failure the old one
    /// stays and the error is kept for `/readyz`.
    pub fn reload(&self, trigger: Trigger) -> Result<usize, String> {
        let Some(path) = &self.path else {
            return Err("no registry file is configured (registry.file)".into());
        };
        let seen = stamp(path);
        match read(path) {
            Ok(r) => {
                let n = r.len();
                match self.current.write() {
                    Ok(mut g) => *g = Arc::new(r),
                    Err(p) => *p.into_inner() = Arc::new(r),
                }
                let mut st = self.status();
                st.loaded_at = now_millis();
                st.last_error = None;
                st.last_error_at = None;
                st.seen = seen;
                tracing::info!(
                    file = %path.display(),
                    parties = n,
                    trigger = trigger.as_str(),
                    "registry reloaded"
                );
                Ok(n)
            }
            Err(e) => {
                let mut st = self.status();
                st.last_error = Some(e.clone());
                st.last_error_at = Some(now_millis());
                st.seen = seen;
                let kept = self.current().len();
                tracing::error!(
                    file = %path.display(),
                    trigger = trigger.as_str(),
                    kept_parties = kept,
                    error = %e,
                    "registry reload failed; the previous registry stays in force"
                );
                Err(e)
            }
        }
    }

    /// Whether the file on disk differs from the one last tried.
    pub fn changed_on_disk(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        stamp(path) != self.status().seen
    }

    /// For `/readyz` and the admin API.
    pub fn status_json(&self) -> serde_json::Value {
        let reg = self.current();
        let st = self.status();
        json!({
            "file": self.path.as_ref().map(|p| p.display().to_string()),
            "parties": reg.len(),
            "loaded_at": timefmt::rfc3339_millis(st.loaded_at),
            "last_error": st.last_error,
            "last_error_at": st.last_error_at.map(timefmt::rfc3339_millis),
        })
    }
}

impl overgang_deliver::Directory for RegistryHandle {
    fn registry(&self) -> Arc<Registry> {
        self.current()
    }

    /// Secret files named in the registry are relative to its file.
    fn secret_path(&self, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.to_owned();
        }
        match self.path.as_deref().and_then(Path::parent) {
            Some(dir) => dir.join(p),
            None => p.to_owned(),
        }
    }
}

/// Reloads the registry when its file changes (every `poll`, unless zero),
/// on SIGHUP and when `peers` gets a permit (a reload announced by a node
/// sharing the store, [`overgang_store::Store::reloads`]), until the task
/// is aborted. A refused file is passed to `failed` (which raises an
/// alert). SIGHUP and `peers` reload the rule files of `rules` too (a
/// refused file is logged; the rules in force stay).
pub async fn watch(
    handle: Arc<RegistryHandle>,
    poll: Duration,
    peers: Option<Arc<tokio::sync::Notify>>,
    rules: Arc<crate::ruleset::Ruleset>,
    failed: impl Fn(String) + Send + Sync + 'static,
) {
    let has_file = handle.path().is_some();
    let poll = if has_file { poll } else { Duration::ZERO };
    #[cfg(unix)]
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; registry reloads on SIGHUP are off");
            None
        }
    };
    let mut tick = (!poll.is_zero()).then(|| {
        let mut t = tokio::time::interval(poll);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let hup_fut = async {
            #[cfg(unix)]
            if let Some(h) = hup.as_mut() {
                h.recv().await;
                return;
            }
            std::future::pending::<()>().await
        };
        let tick_fut = async {
            match tick.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let peer_fut = async {
            match &peers {
                Some(n) => n.notified().await,
                None => std::future::pending::<()>().await,
            }
        };
        let trigger = tokio::select! {
            _ = hup_fut => Some(Trigger::Sighup),
            _ = peer_fut => Some(Trigger::Peer),
            _ = tick_fut => {
                let h = handle.clone();
                let changed = tokio::task::spawn_blocking(move || h.changed_on_disk())
                    .await
                    .unwrap_or(false);
                changed.then_some(Trigger::FileChanged)
            }
        };
        let Some(t) = trigger else { continue };
        if has_file {
            let h = handle.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || h.reload(t)).await {
                failed(e);
            }
        }
        if matches!(t, Trigger::Sighup | Trigger::Peer) {
            let rs = rules.clone();
            let now = crate::app::now_millis();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || rs.reload(t, now)).await {
                tracing::warn!(error = %e, "a rule file was refused; the rules in force stay");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[[party]]\nher = \"59\"\nname = \"Sykehus\"\nkind = \"organisation\"\n\
                        [[party]]\nher = \"91090\"\nname = \"PLO\"\nkind = \"hospital_service\"\nparent = \"59\"\n";

    #[test]
    fn a_broken_new_file_keeps_the_old_registry_and_reports_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.toml");
        std::fs::write(&path, GOOD).unwrap();
        let h = RegistryHandle::load(Some(&path)).unwrap();
        assert_eq!(h.current().len(), 2);
        assert!(!h.changed_on_disk());

        std::fs::write(
            &path,
            format!(
                "{GOOD}[[party]]\nher = \"1\"\nname = \"x\"\nkind = \"gp\"\nparent = \"59x\"\n"
            ),
        )
        .unwrap();
        let e = h.reload(Trigger::Api).unwrap_err();
        assert!(
            e.contains("registry.toml:14: party 1: parent \"59x\" is not a HER-id"),
            "{e}"
        );
        assert_eq!(h.current().len(), 2, "the old registry stays");
        let s = h.status_json();
        assert_eq!(s["parties"], 2);
        assert!(s["last_error"].as_str().unwrap().contains(":14:"), "{s}");
        assert!(
            !h.changed_on_disk(),
            "a refused file is not retried until it changes"
        );

        std::fs::write(
            &path,
            format!("{GOOD}[[party]]\nher = \"1\"\nname = \"x\"\nkind = \"gp\"\nparent = \"59\"\n"),
        )
        .unwrap();
        assert_eq!(h.reload(Trigger::FileChanged), Ok(3));
        assert_eq!(h.current().len(), 3);
        assert!(h.status_json()["last_error"].is_null());

        std::fs::remove_file(&path).unwrap();
        assert!(h
            .reload(Trigger::Sighup)
            .unwrap_err()
            .contains("could not read"));
        assert_eq!(h.current().len(), 3);
    }

    #[test]
    fn a_broken_file_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "[[party]]\nher = \"x\"\nname = \"a\"\nkind = \"gp\"\n",
        )
        .unwrap();
        let e = RegistryHandle::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("bad.toml:2"), "{e}");
    }

    #[test]
    fn the_demo_registry_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry/demo.toml");
        let h = RegistryHandle::load(Some(&path)).unwrap();
        assert!(h.current().get("59").is_some());
        assert!(h.reload(Trigger::Api).is_ok());
    }
}
