//! Starts the real `overgang simulate receiver` binary on a loopback port
//! and talks to its control endpoints (`/_sim/…`, docs/SIMULATOR.md).
//!
//! The simulator prints `overgang: receiver simulator listening on
//! http://ADDR (behaviour B)` on standard output once it is bound; its log
//! (standard error) goes to a file. Dropping a [`Simulator`] kills it.

#![allow(dead_code)] // each test crate uses part of this module

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const READY: &str = "overgang: receiver simulator listening on ";

pub struct Simulator {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub log: PathBuf,
}

impl Simulator {
    /// Starts `overgang simulate receiver --listen 127.0.0.1:0` plus `args`
    /// and waits until it listens.
    pub fn start(args: &[&str], log: &Path) -> Simulator {
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_overgang"))
            .args(["simulate", "receiver", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(logfile))
            .spawn()
            .expect("start overgang simulate receiver");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.wait();
            panic!(
                "the simulator did not start; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let url = line
            .trim()
            .strip_prefix(READY)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Simulator {
            child,
            url,
            log: log.to_owned(),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `POST /_sim/behaviour`; panics unless it is accepted.
    pub async fn set_behaviour(&self, c: &reqwest::Client, behaviour: &str) {
        let r = c
            .post(format!("{}/_sim/behaviour", self.url))
            .body(behaviour.to_owned())
            .send()
            .await
            .expect("POST /_sim/behaviour");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{behaviour}: {status} {body}");
    }

    /// `GET /_sim/received` as JSON.
    pub async fn received(&self, c: &reqwest::Client) -> serde_json::Value {
        self.get_json(c, "/_sim/received").await
    }

    /// `GET /_sim/receipts` as JSON.
    pub async fn receipts(&self, c: &reqwest::Client) -> serde_json::Value {
        self.get_json(c, "/_sim/receipts").await
    }

    async fn get_json(&self, c: &reqwest::Client, path: &str) -> serde_json::Value {
        let r = c
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("JSON")
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
