//! `overgang users`: the users file of the web pages (docs/UI.md).
//!
//! `add` and `passwd` read the password from standard input (one line),
//! so it is never on the command line or in the shell's history; at a
//! terminal they ask for it. The file is written atomically (a temporary
//! file, then rename) and keeps only Argon2id hashes.

use anyhow::{bail, Context};
use overgang_server::ui::people::{hash_password, valid_name, Role, UserEntry, UsersFile};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a person (or change an existing one's roles and units).
    Add(AddArgs),
    /// Set a person's password.
    Passwd(PasswdArgs),
    /// List the people in the file (no hashes).
    List(FileArg),
    /// Remove a person; their sessions end at their next request.
    Remove(PasswdArgs),
}

#[derive(clap::Args)]
pub struct FileArg {
    /// The users file (created when missing).
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// The login name: letters, digits, '.', '_' or '-'.
    pub name: String,
    /// The name shown on the pages.
    #[arg(long)]
    pub display_name: Option<String>,
    /// A role: nurse, operator, admin or coordinator (repeatable).
    #[arg(long = "role", value_name = "ROLE", required = true)]
    pub roles: Vec<String>,
    /// A nurse's unit, as a HER-id (repeatable).
    #[arg(long = "unit", value_name = "HER-ID")]
    pub units: Vec<String>,
    /// A coordinator's municipality, as its 4-digit number (repeatable).
    #[arg(long = "municipality", value_name = "NUMBER")]
    pub municipalities: Vec<String>,
}

#[derive(clap::Args)]
pub struct PasswdArgs {
    #[command(flatten)]
    pub file: FileArg,
    pub name: String,
}

pub fn run(cmd: Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Add(a) => add(a),
        Command::Passwd(a) => passwd(a),
        Command::List(f) => list(&f.file),
        Command::Remove(a) => remove(a),
    }
}

fn read(path: &Path) -> anyhow::Result<UsersFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => UsersFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UsersFile::default()),
        Err(e) => Err(e).with_context(|| format!("{}: could not read", path.display())),
    }
}

fn write(path: &Path, file: &UsersFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    let text = format!(
        "# Overgang users file: written by `overgang users`. Passwords are\n# stored only as Argon2id hashes.\n\n{}",
        file.to_toml()
    );
    std::fs::write(&tmp, text).with_context(|| format!("{}: could not write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: could not write", path.display()))?;
    Ok(())
}

fn password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (shown as you type; at least 10 characters): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("could not read the password")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.chars().count() < 10 {
        bail!("a password needs at least 10 characters");
    }
    Ok(pw)
}

fn add(a: AddArgs) -> anyhow::Result<u8> {
    if !valid_name(&a.name) {
        bail!(
            "{:?}: a name is 1–64 letters, digits, '.', '_' or '-'",
            a.name
        );
    }
    let roles = a
        .roles
        .iter()
        .map(|r| {
            Role::parse(r)
                .with_context(|| format!("{r:?}: a role is nurse, operator, admin or coordinator"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(u) = a.units.iter().find(|u| !overgang_registry::is_her_id(u)) {
        bail!("{u:?}: a unit is a HER-id (digits)");
    }
    let mut file = read(&a.file.file)?;
    let existing = file.get(&a.name).cloned();
    let password_hash = match &existing {
        Some(e) => e.password_hash.clone(),
        None => hash_password(&password()?).map_err(|e| anyhow::anyhow!(e))?,
    };
    let entry = UserEntry {
        name: a.name.clone(),
        display_name: a
            .display_name
            .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
            .unwrap_or_default(),
        password_hash,
        roles,
        units: a.units,
        municipalities: a.municipalities,
    };
    file.upsert(entry);
    // The same checks the gateway makes when it reads the file.
    UsersFile::parse(&file.to_toml()).map_err(|e| anyhow::anyhow!(e))?;
    write(&a.file.file, &file)?;
    println!(
        "{} {} in {}",
        if existing.is_some() {
            "changed"
        } else {
            "added"
        },
        a.name,
        a.file.file.display()
    );
    Ok(0)
}

fn passwd(a: PasswdArgs) -> anyhow::Result<u8> {
    let mut file = read(&a.file.file)?;
    let Some(mut entry) = file.get(&a.name).cloned() else {
        bail!("no user {:?} in {}", a.name, a.file.file.display());
    };
    entry.password_hash = hash_password(&password()?).map_err(|e| anyhow::anyhow!(e))?;
    file.upsert(entry);
    write(&a.file.file, &file)?;
    println!("password of {} changed", a.name);
    Ok(0)
}

fn remove(a: PasswdArgs) -> anyhow::Result<u8> {
    let mut file = read(&a.file.file)?;
    let before = file.users.len();
    file.users.retain(|u| u.name != a.name);
    if file.users.len() == before {
        bail!("no user {:?} in {}", a.name, a.file.file.display());
    }
    write(&a.file.file, &file)?;
    println!("removed {}", a.name);
    Ok(0)
}

fn list(path: &Path) -> anyhow::Result<u8> {
    let file = read(path)?;
    for u in &file.users {
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        println!(
            "{}\t{}\t{}\t{}\t{}",
            u.name,
            u.display_name,
            roles.join(","),
            u.units.join(","),
            u.municipalities.join(",")
        );
    }
    Ok(0)
}
