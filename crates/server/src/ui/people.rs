//! People: who may log in to the web pages, and with which roles.
//!
//! Authentication is behind [`Authenticator`], so another source of people
//! (an OpenID Connect provider such as HelseID) can replace the local users
//! file without touching the pages: the pages only ever see a [`Person`].
//! docs/UI.md says how such a provider fits in.
//!
//! The local source is a TOML users file (`overgang users add|passwd`):
//!
//! ```toml
//! [[users]]
//! name = "kari"
//! display_name = "Kari Sykepleier"
//! password_hash = "$argon2id$…"
//! roles = ["nurse"]
//! units = ["8100001"]
//! ```
//!
//! The file is read again when it changes (checked at most once a second),
//! so a changed password or role takes effect at once, and a removed user's
//! sessions end at their next request.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::ServerError;

/// The roles a person may have. A person may have several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the messages of their units, clinical content included.
    Nurse,
    /// Queues, deliveries, metadata; no clinical content.
    Operator,
    /// Users, registry, rules, the access log.
    Admin,
    /// Follows patient flow for municipalities: the discharge-ready board,
    /// overdue messages (metadata and counts, no clinical content).
    Coordinator,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Nurse, Role::Operator, Role::Admin, Role::Coordinator];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Nurse => "nurse",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A person as the pages see them, whatever source vouched for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The login name (or an identity provider's stable subject).
    pub name: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// HER-ids of the units a nurse works for.
    pub units: Vec<String>,
    /// Municipality numbers (4 digits) a coordinator follows.
    pub municipalities: Vec<String>,
}

impl Person {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// May read the clinical content of a message naming these parties.
    pub fn may_read_clinical(&self, parties: &[String]) -> bool {
        self.has(Role::Nurse) && parties.iter().any(|p| self.units.contains(p))
    }
}

/// A source of people.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks a user name and password. Slow on purpose (Argon2): call it
    /// off the request threads. `None` for an unknown user or a wrong
    /// password alike.
    fn check_password(&self, user: &str, password: &str) -> Option<Person>;

    /// The person as they are now (roles may have changed since they logged
    /// in); `None` when they may no longer log in.
    fn person(&self, user: &str) -> Option<Person>;

    /// Everyone, for the admin page (a provider may not be able to list).
    fn list(&self) -> Vec<Person>;

    /// Whether the source could be read the last time it was (for the admin
    /// page): `Err` with a reason when the users file is broken.
    fn status(&self) -> Result<(), String>;
}

/// One entry of the users file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    pub password_hash: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub municipalities: Vec<String>,
}

impl UserEntry {
    fn person(&self) -> Person {
        Person {
            name: self.name.clone(),
            display_name: if self.display_name.is_empty() {
                self.name.clone()
            } else {
                self.display_name.clone()
            },
            roles: self.roles.clone(),
            units: self.units.clone(),
            municipalities: self.municipalities.clone(),
        }
    }
}

/// The users file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

impl UsersFile {
    /// Parses and checks a users file: names unique and plain, hashes
    /// Argon2 PHC strings, a nurse has at least one unit.
    pub fn parse(text: &str) -> Result<UsersFile, String> {
        let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for u in &file.users {
            if !valid_name(&u.name) {
                return Err(format!(
                    "user {:?}: a name is 1–64 letters, digits, '.', '_' or '-'",
                    u.name
                ));
            }
            if !seen.insert(u.name.as_str()) {
                return Err(format!("user {:?} appears twice", u.name));
            }
            if PasswordHash::new(&u.password_hash).is_err() {
                return Err(format!(
                    "user {:?}: password_hash is not an Argon2 PHC string",
                    u.name
                ));
            }
            if u.roles.contains(&Role::Nurse) && u.units.is_empty() {
                return Err(format!(
                    "user {:?}: a nurse needs at least one unit (HER-id)",
                    u.name
                ));
            }
            if u.roles.contains(&Role::Coordinator) && u.municipalities.is_empty() {
                return Err(format!(
                    "user {:?}: a coordinator needs at least one municipality (4-digit number)",
                    u.name
                ));
            }
            if let Some(m) = u
                .municipalities
                .iter()
                .find(|m| !overgang_registry::is_municipality_number(m))
            {
                return Err(format!(
                    "user {:?}: {m:?} is not a municipality number (4 digits)",
                    u.name
                ));
            }
        }
        Ok(file)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&UserEntry> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Adds a user or, with `replace`, changes one.
    pub fn upsert(&mut self, entry: UserEntry) {
        match self.users.iter_mut().find(|u| u.name == entry.name) {
            Some(u) => *u = entry,
            None => self.users.push(entry),
        }
    }
}

/// A user name: 1–64 of `[A-Za-z0-9._-]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The Argon2id PHC string of a password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    crate::auth::hash_token(password)
}

/// A hash checked for unknown users, so that a wrong name takes as long as
/// a wrong password (its password is random and thrown away).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&crate::auth::new_token()).unwrap_or_default())
}

/// People from the local users file.
pub struct LocalUsers {
    path: Option<PathBuf>,
    state: Mutex<Loaded>,
}

struct Loaded {
    file: Arc<UsersFile>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
    error: Option<String>,
}

impl LocalUsers {
    /// Reads the users file; a missing or broken file at start is an error.
    /// `None`: no file, nobody can log in.
    pub fn open(path: Option<&Path>) -> Result<LocalUsers, ServerError> {
        let mut loaded = Loaded {
            file: Arc::new(UsersFile::default()),
            modified: None,
            checked: None,
            error: None,
        };
        if let Some(p) = path {
            let (file, modified) = read_file(p).map_err(|reason| ServerError::Config {
                place: p.display().to_string(),
                reason,
            })?;
            loaded.file = Arc::new(file);
            loaded.modified = modified;
            loaded.checked = Some(Instant::now());
        }
        Ok(LocalUsers {
            path: path.map(Path::to_path_buf),
            state: Mutex::new(loaded),
        })
    }

    /// From a users file already in memory (tests).
    pub fn from_file(file: UsersFile) -> LocalUsers {
        LocalUsers {
            path: None,
            state: Mutex::new(Loaded {
                file: Arc::new(file),
                modified: None,
                checked: None,
                error: None,
            }),
        }
    }

    /// The file as it is now: read again when its modification time has
    /// changed (looked at once a second at most). A broken file keeps the
    /// last good one in force and is reported by [`Authenticator::status`].
    fn current(&self) -> Arc<UsersFile> {
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(path) = &self.path else {
            return st.file.clone();
        };
        let due = st
            .checked
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            st.checked = Some(Instant::now());
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified != st.modified {
                match read_file(path) {
                    Ok((file, m)) => {
                        st.file = Arc::new(file);
                        st.modified = m;
                        st.error = None;
                        tracing::info!("users file reloaded");
                    }
                    Err(e) => {
                        st.modified = modified;
                        tracing::warn!(error = %e, "users file refused; the previous one stays in force");
                        st.error = Some(e);
                    }
                }
            }
        }
        st.file.clone()
    }
}

fn read_file(path: &Path) -> Result<(UsersFile, Option<SystemTime>), String> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    Ok((UsersFile::parse(&text)?, modified))
}

impl Authenticator for LocalUsers {
    fn check_password(&self, user: &str, password: &str) -> Option<Person> {
        let file = self.current();
        let entry = file.get(user);
        let hash: &str = match entry {
            Some(e) => &e.password_hash,
            None => dummy_hash(),
        };
        let ok = PasswordHash::new(hash).ok().is_some_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        if ok {
            entry.map(UserEntry::person)
        } else {
            None
        }
    }

    fn person(&self, user: &str) -> Option<Person> {
        self.current().get(user).map(UserEntry::person)
    }

    fn list(&self) -> Vec<Person> {
        self.current().users.iter().map(UserEntry::person).collect()
    }

    fn status(&self) -> Result<(), String> {
        let _ = self.current();
        let st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match &st.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, password: &str, roles: &[Role], units: &[&str]) -> UserEntry {
        UserEntry {
            name: name.into(),
            display_name: String::new(),
            password_hash: hash_password(password).unwrap(),
            roles: roles.to_vec(),
            units: units.iter().map(|u| u.to_string()).collect(),
            municipalities: Vec::new(),
        }
    }

    #[test]
    fn passwords_are_checked_and_unknown_users_refused() {
        let users = LocalUsers::from_file(UsersFile {
            users: vec![entry("kari", "s3cret-pass", &[Role::Nurse], &["100"])],
        });
        let p = users.check_password("kari", "s3cret-pass").unwrap();
        assert_eq!(p.units, ["100"]);
        assert!(p.has(Role::Nurse) && !p.has(Role::Admin));
        assert!(users.check_password("kari", "wrong").is_none());
        assert!(users.check_password("ola", "s3cret-pass").is_none());
        assert!(users.person("ola").is_none());
    }

    #[test]
    fn clinical_content_needs_the_nurse_role_and_a_shared_unit() {
        let mut p = entry("kari", "x", &[Role::Nurse], &["100"]).person();
        assert!(p.may_read_clinical(&["100".into(), "200".into()]));
        assert!(!p.may_read_clinical(&["200".into()]));
        p.roles = vec![Role::Operator];
        assert!(!p.may_read_clinical(&["100".into()]));
    }

    #[test]
    fn the_file_round_trips_and_bad_files_are_refused() {
        let mut file = UsersFile::default();
        file.upsert(entry("kari", "x", &[Role::Nurse], &["100"]));
        file.upsert(entry("ola", "y", &[Role::Operator, Role::Admin], &[]));
        let text = file.to_toml();
        assert_eq!(UsersFile::parse(&text).unwrap(), file);
        assert!(!text.contains("\"x\""));

        let twice = format!(
            "{text}\n{}",
            text.split_once("\n[[users]]").map_or("", |x| x.1)
        );
        let twice = format!("{text}[[users]]{twice}");
        assert!(UsersFile::parse(&twice).is_err());
        let bad_hash = text.replacen("$argon2id$", "plain", 1);
        assert!(UsersFile::parse(&bad_hash).unwrap_err().contains("Argon2"));
        let unitless = "[[users]]\nname = \"n\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\"\nroles = [\"nurse\"]\n";
        assert!(UsersFile::parse(unitless).unwrap_err().contains("unit"));
        let placeless = unitless.replace("\"nurse\"", "\"coordinator\"");
        assert!(UsersFile::parse(&placeless)
            .unwrap_err()
            .contains("municipality"));
        let coordinator = format!("{placeless}municipalities = [\"5001\"]\n");
        let file = UsersFile::parse(&coordinator).expect("a coordinator of 5001");
        assert_eq!(file.users[0].municipalities, ["5001"]);
        let bad = format!("{placeless}municipalities = [\"50011\"]\n");
        assert!(UsersFile::parse(&bad)
            .unwrap_err()
            .contains("municipality number"));
        assert!(
            UsersFile::parse("[[users]]\nname = \"a b\"\npassword_hash = \"x\"\n")
                .unwrap_err()
                .contains("name")
        );
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut file = UsersFile::default();
        file.upsert(entry("kari", "x", &[Role::Nurse], &["100"]));
        std::fs::write(&path, file.to_toml()).unwrap();
        let users = LocalUsers::open(Some(&path)).unwrap();
        assert!(users.person("kari").is_some());

        file.users.clear();
        file.upsert(entry("ola", "y", &[Role::Operator], &[]));
        std::fs::write(&path, file.to_toml()).unwrap();
        bump_mtime(&path, 10);
        force_check(&users);
        assert!(users.person("kari").is_none());
        assert!(users.person("ola").is_some());

        std::fs::write(&path, "not toml [").unwrap();
        bump_mtime(&path, 20);
        force_check(&users);
        assert!(users.person("ola").is_some());
        assert!(users.status().is_err());
    }

    fn bump_mtime(path: &Path, secs: u64) {
        let t = SystemTime::now() + Duration::from_secs(secs);
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(t).unwrap();
    }

    fn force_check(users: &LocalUsers) {
        users.state.lock().unwrap().checked = None;
        let _ = users.current();
    }

    #[test]
    fn a_missing_file_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(LocalUsers::open(Some(&dir.path().join("none.toml"))).is_err());
        assert!(LocalUsers::open(None).unwrap().list().is_empty());
    }
}
