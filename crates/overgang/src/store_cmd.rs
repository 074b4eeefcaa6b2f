//! `overgang store`: the database's space, the one-time switch of a
//! database created before retention (schema version 8) to incremental
//! auto-vacuum, so that the retention sweeper can give space back to the
//! file system (docs/RELIABILITY.md, "Retention"), and an online backup
//! (docs/OPERATIONS.md, "Backup and restore").

use anyhow::Context;
use overgang_store::sqlite::SqliteStore;
use overgang_store::Space;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Pages in use and free, and whether free pages are given back to the
    /// file system (incremental auto-vacuum).
    Space(DataArg),
    /// Switch the database to incremental auto-vacuum with a VACUUM of the
    /// whole file. Stop the gateway first: this takes time on a large store
    /// and needs free disk as large as the database.
    Vacuum(DataArg),
    /// Write a consistent copy of the database to a new file while the
    /// gateway runs (SQLite's VACUUM INTO). To restore: stop the gateway,
    /// put the file in place as overgang.db, remove overgang.db-wal and
    /// overgang.db-shm, start it.
    Backup(BackupArgs),
}

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The store's folder (`[store] data`), holding overgang.db.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The backup file to write; it must not exist.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

#[derive(clap::Args)]
pub struct DataArg {
    /// The store's folder (`[store] data`), holding overgang.db.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

fn describe(s: &Space) -> String {
    let mib = |pages: u64| (pages * s.page_size) as f64 / (1024.0 * 1024.0);
    format!(
        "{} pages of {} bytes ({:.1} MiB), {} free ({:.1} MiB); auto-vacuum: {}",
        s.page_count,
        s.page_size,
        mib(s.page_count),
        s.freelist_count,
        mib(s.freelist_count),
        if s.incremental {
            "incremental"
        } else {
            "none (free pages are reused, the file does not shrink)"
        }
    )
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Space(a) => {
            let space = SqliteStore::space_at(&a.data)
                .with_context(|| format!("{}: no store to read", a.data.display()))?;
            println!("{}", describe(&space));
        }
        Command::Vacuum(a) => {
            let (before, after) = SqliteStore::vacuum_into_incremental(&a.data)
                .with_context(|| format!("{}: could not vacuum", a.data.display()))?;
            if before.incremental {
                println!("already incremental; nothing done: {}", describe(&after));
            } else {
                println!("before: {}", describe(&before));
                println!("after:  {}", describe(&after));
            }
        }
        Command::Backup(a) => {
            let started = std::time::Instant::now();
            let b = SqliteStore::backup_to(&a.data, &a.to).with_context(|| {
                format!(
                    "{}: could not back up to {}",
                    a.data.display(),
                    a.to.display()
                )
            })?;
            println!(
                "backup: {} ({:.1} MiB, schema version {}, {} messages, quick_check ok) in {:.1} s",
                a.to.display(),
                b.bytes as f64 / (1024.0 * 1024.0),
                b.schema_version,
                b.messages,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
