//! System authentication: who is posting, and as which parties they may send.
//!
//! A system presents `Authorization: Bearer <token>`; the configuration holds
//! only the token's Argon2id hash. Argon2 is slow on purpose, too slow to run
//! on every request at thousands of messages a second, so a token that
//! verified once is remembered in memory by its SHA-256 digest (never the
//! token), and later requests compare digests in constant time. A token that
//! fails is not remembered, and every system's hash is tried, so timing does
//! not tell which system a wrong token was close to.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

use crate::config::SystemConfig;

/// An authenticated sender system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    pub name: String,
    pub may_send_as: Vec<String>,
    pub may_read_all: bool,
    /// May use the admin API.
    pub admin: bool,
}

impl System {
    /// Whether the system may send as a message whose sender has these
    /// HER-ids (organisation and unit/person); any one listed is enough.
    pub fn may_send_as<'a>(&self, hers: impl IntoIterator<Item = &'a str>) -> bool {
        if self.may_send_as.iter().any(|h| h == "*") {
            return true;
        }
        hers.into_iter()
            .any(|her| self.may_send_as.iter().any(|h| h.trim() == her.trim()))
    }
}

struct Entry {
    system: Arc<System>,
    hash: Option<String>,
    cert_subject: Option<String>,
}

/// The configured systems, and the digests of tokens verified so far.
pub struct Systems {
    entries: Vec<Entry>,
    verified: RwLock<Vec<([u8; 32], Arc<System>)>>,
    /// Token checks that ran Argon2 (each costs 19 MiB and tens of ms).
    checks: std::sync::atomic::AtomicU64,
}

/// Why a request is not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header (and no client certificate).
    Missing,
    /// A token no system has.
    Invalid,
}

impl Systems {
    pub fn new(config: &[SystemConfig]) -> Systems {
        Systems {
            entries: config
                .iter()
                .map(|s| Entry {
                    system: Arc::new(System {
                        name: s.name.clone(),
                        may_send_as: s.may_send_as.clone(),
                        may_read_all: s.may_read_all,
                        admin: s.admin,
                    }),
                    hash: s.token_hash.clone(),
                    cert_subject: s.client_cert_subject.clone(),
                })
                .collect(),
            verified: RwLock::new(Vec::new()),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many token checks have run Argon2 so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many systems are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The system of a token verified before, without running Argon2
    /// (cheap: one SHA-256 and constant-time compares).
    pub fn remembered(&self, token: &str) -> Option<Arc<System>> {
        self.remembered_digest(&Sha256::digest(token.as_bytes()).into())
    }

    fn remembered_digest(&self, digest: &[u8; 32]) -> Option<Arc<System>> {
        let v = self.verified.read().ok()?;
        let mut found = None;
        for (d, s) in v.iter() {
            if bool::from(d.ct_eq(digest)) {
                found = Some(s.clone());
            }
        }
        found
    }

    /// The system a bearer token belongs to.
    pub fn by_token(&self, token: &str) -> Result<Arc<System>, AuthFailure> {
        if token.is_empty() {
            return Err(AuthFailure::Missing);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(s) = self.remembered_digest(&digest) {
            return Ok(s);
        }
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut found = None;
        for e in &self.entries {
            let Some(h) = e.hash.as_deref().and_then(|h| PasswordHash::new(h).ok()) else {
                continue;
            };
            if Argon2::default()
                .verify_password(token.as_bytes(), &h)
                .is_ok()
                && found.is_none()
            {
                found = Some(e.system.clone());
            }
        }
        let system = found.ok_or(AuthFailure::Invalid)?;
        if let Ok(mut v) = self.verified.write() {
            if !v.iter().any(|(d, _)| d == &digest) {
                v.push((digest, system.clone()));
            }
        }
        Ok(system)
    }

    /// The system a client certificate's subject (as the TLS layer wrote it)
    /// belongs to.
    pub fn by_cert_subject(&self, subject: &str) -> Option<Arc<System>> {
        self.entries
            .iter()
            .find(|e| {
                e.cert_subject
                    .as_deref()
                    .is_some_and(|s| normalise_dn(s) == normalise_dn(subject))
            })
            .map(|e| e.system.clone())
    }
}

/// A distinguished name compared without case in attribute names and
/// without spaces around separators: `cn=a, O=b` equals `CN=a,O=b`.
fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|part| match part.split_once('=') {
            Some((k, v)) => format!("{}={}", k.trim().to_ascii_uppercase(), v.trim()),
            None => part.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The Argon2id PHC string for `token`, with a random salt.
pub fn hash_token(token: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let uuid = uuid::Uuid::new_v4();
    let salt = SaltString::encode_b64(uuid.as_bytes()).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(token.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A new random token (256 bits, URL-safe).
pub fn new_token() -> String {
    let mut s = String::from("ovg_");
    for _ in 0..2 {
        s.push_str(&crate::patient::hex(uuid::Uuid::new_v4().as_bytes()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn systems() -> Systems {
        Systems::new(&[
            SystemConfig {
                name: "a".into(),
                token_hash: Some(hash_token("token-a").unwrap()),
                client_cert_subject: Some("CN=a.example,O=A".into()),
                may_send_as: vec!["100".into()],
                may_read_all: false,
                admin: false,
            },
            SystemConfig {
                name: "b".into(),
                token_hash: Some(hash_token("token-b").unwrap()),
                client_cert_subject: None,
                may_send_as: vec!["*".into()],
                may_read_all: true,
                admin: false,
            },
        ])
    }

    #[test]
    fn tokens_find_their_system_and_are_cached_by_digest() {
        let s = systems();
        assert_eq!(s.by_token("token-a").unwrap().name, "a");
        assert_eq!(s.by_token("token-a").unwrap().name, "a");
        assert_eq!(s.by_token("token-b").unwrap().name, "b");
        assert_eq!(s.by_token("token-c"), Err(AuthFailure::Invalid));
        assert_eq!(s.by_token(""), Err(AuthFailure::Missing));
        let cached = s.verified.read().unwrap();
        assert_eq!(cached.len(), 2);
        let a: [u8; 32] = Sha256::digest(b"token-a").into();
        assert!(cached.iter().any(|(d, _)| d == &a), "only digests are kept");
    }

    #[test]
    fn hashes_are_salted_phc_strings() {
        let h1 = hash_token("x").unwrap();
        let h2 = hash_token("x").unwrap();
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2);
    }

    #[test]
    fn sending_parties() {
        let s = systems();
        let a = s.by_token("token-a").unwrap();
        assert!(a.may_send_as(["100", "200"]));
        assert!(!a.may_send_as(["200"]));
        assert!(!a.may_send_as([]));
        let b = s.by_token("token-b").unwrap();
        assert!(b.may_send_as(["anything"]));
    }

    #[test]
    fn certificate_subjects_compare_loosely() {
        let s = systems();
        assert_eq!(s.by_cert_subject("cn=a.example, o=A").unwrap().name, "a");
        assert!(s.by_cert_subject("CN=a.example,O=B").is_none());
    }

    #[test]
    fn new_tokens_are_long_and_distinct() {
        let t = new_token();
        assert!(t.len() >= 64);
        assert_ne!(t, new_token());
    }
}
