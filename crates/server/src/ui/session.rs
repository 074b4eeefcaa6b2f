//! Sessions of people logged in to the web pages, their CSRF tokens, and
//! the limit on failed logins.
//!
//! A session id is 256 random bits in an HttpOnly, SameSite=Strict cookie
//! (also Secure, with the `__Host-` prefix, when the gateway serves TLS).
//! The server keeps only the SHA-256 of each id. Logging in always starts a
//! new session (no fixation); logging out ends it. Every form carries the
//! session's CSRF token, checked on every POST. Time is passed in, so the
//! rules are tested without waiting.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Sessions kept at most; beyond it the oldest anonymous (not logged in)
/// ones go first, then the oldest of all.
pub const MAX_SESSIONS: usize = 10_000;
/// A session that has not logged in lives this long (the login form).
const ANONYMOUS_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug)]
pub struct Session {
    /// The person logged in; `None` before login.
    pub user: Option<String>,
    pub csrf: String,
    pub created: Instant,
    pub last_seen: Instant,
}

pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    max_age: Duration,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 256 random bits as 64 hex digits (from the OS's generator, via UUIDv4).
pub fn random_token() -> String {
    let mut s = String::with_capacity(64);
    for _ in 0..2 {
        s.push_str(&crate::patient::hex(uuid::Uuid::new_v4().as_bytes()));
    }
    s
}

impl Sessions {
    pub fn new(idle: Duration, max_age: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            max_age,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        match s.user {
            Some(_) => {
                now.saturating_duration_since(s.last_seen) < self.idle
                    && now.saturating_duration_since(s.created) < self.max_age
            }
            None => now.saturating_duration_since(s.created) < ANONYMOUS_TTL,
        }
    }

    /// Starts a session (for `user`, or anonymous for the login form) and
    /// returns its id, to be set as the cookie.
    pub fn start(&self, user: Option<String>, now: Instant) -> (String, Session) {
        let id = random_token();
        let session = Session {
            user,
            csrf: random_token(),
            created: now,
            last_seen: now,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| self.alive(s, now));
        }
        if map.len() >= MAX_SESSIONS {
            let victim = map
                .iter()
                .min_by_key(|(_, s)| (s.user.is_some(), s.last_seen))
                .map(|(k, _)| *k);
            if let Some(k) = victim {
                map.remove(&k);
            }
        }
        map.insert(key(&id), session.clone());
        (id, session)
    }

    /// The live session of a cookie value, its last use set to `now`.
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let k = key(id);
        let mut map = self.lock();
        let alive = map.get(&k).map(|s| self.alive(s, now))?;
        if !alive {
            map.remove(&k);
            return None;
        }
        let s = map.get_mut(&k)?;
        s.last_seen = now;
        Some(s.clone())
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    /// Ends every session of a person (e.g. after a password change).
    pub fn end_all_of(&self, user: &str) {
        self.lock().retain(|_, s| s.user.as_deref() != Some(user));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Compares a submitted CSRF token with the session's, in constant time.
pub fn csrf_ok(session: &Session, submitted: &str) -> bool {
    !submitted.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(submitted.as_bytes()))
}

/// Failed logins per user name and per client address in a sliding window.
/// A name or address over its limit is refused before its password is
/// checked, until old failures leave the window.
pub struct LoginLimiter {
    per_user: u32,
    per_address: u32,
    window: Duration,
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    users: HashMap<String, Vec<Instant>>,
    addresses: HashMap<IpAddr, Vec<Instant>>,
}

/// Entries kept at most per map (names and addresses are attacker-chosen).
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    pub fn new(per_user: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            per_user: per_user.max(1),
            per_address: per_user.max(1).saturating_mul(10),
            window,
            failures: Mutex::new(Failures::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether a login for `user` from `addr` may be tried now.
    pub fn allowed(&self, user: &str, addr: Option<IpAddr>, now: Instant) -> bool {
        let mut f = self.lock();
        let window = self.window;
        let recent = |v: &mut Vec<Instant>| {
            v.retain(|t| now.saturating_duration_since(*t) < window);
            v.len()
        };
        let by_user = f.users.get_mut(user).map_or(0, recent);
        let by_addr = addr.and_then(|a| f.addresses.get_mut(&a)).map_or(0, recent);
        by_user < self.per_user as usize && by_addr < self.per_address as usize
    }

    pub fn failed(&self, user: &str, addr: Option<IpAddr>, now: Instant) {
        let mut f = self.lock();
        let window = self.window;
        if f.users.len() >= MAX_TRACKED {
            f.users
                .retain(|_, v| v.iter().any(|t| now.saturating_duration_since(*t) < window));
        }
        if f.users.len() < MAX_TRACKED {
            f.users.entry(user.to_owned()).or_default().push(now);
        }
        if let Some(a) = addr {
            if f.addresses.len() >= MAX_TRACKED {
                f.addresses
                    .retain(|_, v| v.iter().any(|t| now.saturating_duration_since(*t) < window));
            }
            if f.addresses.len() < MAX_TRACKED {
                f.addresses.entry(a).or_default().push(now);
            }
        }
    }

    /// A successful login clears the name's failures.
    pub fn succeeded(&self, user: &str) {
        self.lock().users.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn sessions_expire_when_idle_and_at_their_maximum_age() {
        let s = Sessions::new(30 * MIN, 12 * 60 * MIN);
        let t0 = Instant::now();
        let (id, first) = s.start(Some("kari".into()), t0);
        assert_eq!(id.len(), 64);
        assert_ne!(id, first.csrf);
        assert!(s.get(&id, t0 + 29 * MIN).is_some());
        // Each use restarts the idle clock, up to the maximum age.
        let mut t = t0;
        while t < t0 + 11 * 60 * MIN {
            t += 20 * MIN;
            assert!(s.get(&id, t).is_some());
        }
        assert!(s.get(&id, t0 + 12 * 60 * MIN).is_none());
        let (id2, _) = s.start(Some("kari".into()), t0);
        assert!(s.get(&id2, t0 + 31 * MIN).is_none());
        assert!(s.get("not a session", t0).is_none());
    }

    #[test]
    fn ids_are_not_kept_in_clear_and_logout_ends_them() {
        let s = Sessions::new(30 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let (id, _) = s.start(Some("kari".into()), t0);
        assert!(!s.lock().keys().any(|k| k.as_slice() == id.as_bytes()));
        s.end(&id);
        assert!(s.get(&id, t0).is_none());
        let (a, _) = s.start(Some("ola".into()), t0);
        let (b, _) = s.start(Some("ola".into()), t0);
        let (c, _) = s.start(Some("kari".into()), t0);
        s.end_all_of("ola");
        assert!(s.get(&a, t0).is_none() && s.get(&b, t0).is_none());
        assert!(s.get(&c, t0).is_some());
    }

    #[test]
    fn anonymous_sessions_are_short_and_go_first_when_full() {
        let s = Sessions::new(30 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let (anon, _) = s.start(None, t0);
        assert!(s.get(&anon, t0 + 14 * MIN).is_some());
        assert!(s.get(&anon, t0 + 16 * MIN).is_none());
        let (person, _) = s.start(Some("kari".into()), t0);
        for _ in 0..MAX_SESSIONS + 10 {
            s.start(None, t0);
        }
        assert!(s.len() <= MAX_SESSIONS);
        assert!(s.get(&person, t0).is_some());
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let s = Sessions::new(MIN, MIN);
        let (_, session) = s.start(None, Instant::now());
        assert!(csrf_ok(&session, &session.csrf.clone()));
        assert!(!csrf_ok(&session, ""));
        assert!(!csrf_ok(&session, &session.csrf[1..]));
        assert!(!csrf_ok(&session, &random_token()));
    }

    #[test]
    fn failed_logins_lock_a_name_for_the_window() {
        let l = LoginLimiter::new(5, 15 * MIN);
        let t0 = Instant::now();
        let addr: IpAddr = [127, 0, 0, 1].into();
        for i in 0..5 {
            assert!(l.allowed("kari", Some(addr), t0 + i * MIN));
            l.failed("kari", Some(addr), t0 + i * MIN);
        }
        assert!(!l.allowed("kari", Some(addr), t0 + 5 * MIN));
        assert!(l.allowed("ola", Some(addr), t0 + 5 * MIN));
        // The first failure leaves the window after 15 minutes.
        assert!(l.allowed("kari", Some(addr), t0 + 15 * MIN + Duration::from_secs(1)));
        l.succeeded("kari");
        assert!(l.allowed("kari", Some(addr), t0 + 5 * MIN));
    }

    #[test]
    fn one_address_trying_many_names_is_limited_too() {
        let l = LoginLimiter::new(2, 15 * MIN);
        let t0 = Instant::now();
        let addr: IpAddr = [10, 0, 0, 9].into();
        for i in 0..20 {
            l.failed(&format!("user{i}"), Some(addr), t0);
        }
        assert!(!l.allowed("someone-new", Some(addr), t0));
        assert!(l.allowed("someone-new", Some([10, 0, 0, 8].into()), t0));
    }
}
