//! A PostgreSQL database of a test's own on the server named by
//! `OVERGANG_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! trust authentication, as in CI), made with `psql` and dropped when the
//! test ends. Without a reachable server the test fails; it is not skipped.

#![allow(dead_code)] // each test crate uses part of this module

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn server_url() -> String {
    std::env::var("OVERGANG_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Runs SQL with `psql` against `url`; the rows, each a list of columns.
pub fn psql_at(url: &str, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("psql")
        .arg(url)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (Debian package postgresql-client) must be installed");
    assert!(
        out.status.success(),
        "psql failed (is PostgreSQL running at {}?): {}",
        server_url(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Runs SQL as the server's superuser on its maintenance database.
pub fn psql(sql: &str) {
    psql_at(&server_url(), sql);
}

/// A fresh database, dropped (with its sessions) when the test ends.
pub struct Db {
    pub name: String,
}

impl Db {
    pub fn new() -> Db {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "overgang_e2e_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {name}"));
        Db { name }
    }

    /// The database's URL: the server's, with this database's name.
    pub fn url(&self) -> String {
        let base = server_url();
        let cut = base.rfind('/').map(|i| i + 1).unwrap_or(base.len());
        let (head, tail) = base.split_at(cut);
        let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
        format!("{head}{}{query}", self.name)
    }
}

impl Db {
    /// A query's rows in this database.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        psql_at(&self.url(), sql)
    }

    /// A query's single number.
    pub fn count(&self, sql: &str) -> u64 {
        let rows = self.rows(sql);
        rows.first()
            .and_then(|r| r.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: {rows:?}"))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        psql(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.name
        ));
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
