//! A person at the web pages, over plain HTTP: a cookie jar of one session
//! cookie, the CSRF token of the last page, and forms posted with it.
//! Redirects are not followed, so tests see each 303 and where it goes.

#![allow(dead_code)] // each test crate uses part of this module

use overgang_server::ui::people::{hash_password, Role, UserEntry, UsersFile};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name of the session cookie.
const SESSION_COOKIE: &str = "overgang_session=";

/// Writes a users file: `(name, password, roles, units)`, each shown as
/// "`name` (test)".
pub fn users_file(dir: &Path, users: &[(&str, &str, &[Role], &[&str])]) -> PathBuf {
    let display: Vec<String> = users
        .iter()
        .map(|(name, ..)| format!("{name} (test)"))
        .collect();
    let named: Vec<_> = users
        .iter()
        .zip(&display)
        .map(|(&(name, password, roles, units), shown)| {
            (name, shown.as_str(), password, roles, units)
        })
        .collect();
    users_file_named(dir, &named)
}

/// A user of a users file: `(name, display name, password, roles, units)`.
pub type NamedUser<'a> = (&'a str, &'a str, &'a str, &'a [Role], &'a [&'a str]);

/// Writes a users file `users.toml` in `dir`.
pub fn users_file_named(dir: &Path, users: &[NamedUser]) -> PathBuf {
    let mut file = UsersFile::default();
    for (name, display_name, password, roles, units) in users {
        file.upsert(UserEntry {
            name: name.to_string(),
            display_name: display_name.to_string(),
            password_hash: hash_password(password).expect("hash"),
            roles: roles.to_vec(),
            units: units.iter().map(|u| u.to_string()).collect(),
            municipalities: Vec::new(),
        });
    }
    let p = dir.join("users.toml");
    std::fs::write(&p, file.to_toml()).expect("write users file");
    p
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of header `name`, if there is one (and it is text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the answer sets the session cookie.
    pub fn sets_session(&self) -> bool {
        self.set_cookie
            .iter()
            .any(|c| c.starts_with(SESSION_COOKIE))
    }
}

pub struct Person {
    pub base: String,
    client: reqwest::Client,
    /// `name=value` of the session cookie.
    pub cookie: Option<String>,
    /// `overgang_lang=…`, when chosen.
    pub lang: Option<String>,
    /// The `_csrf` value of the last page that had one.
    pub csrf: Option<String>,
}

/// The value of the first `<input … name="_csrf" value="…">` of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")?;
    let rest = &html[at + "name=\"_csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Person {
    pub fn new(base: &str) -> Person {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Person {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            cookie: None,
            lang: None,
            csrf: None,
        }
    }

    /// A person whose requests go through `client` (e.g. one that trusts
    /// a test CA, for the pages over TLS). Redirects must not be followed.
    pub fn with_client(base: &str, client: reqwest::Client) -> Person {
        Person {
            base: base.to_owned(),
            client,
            cookie: None,
            lang: None,
            csrf: None,
        }
    }

    fn cookies(&self) -> Option<String> {
        let parts: Vec<&str> = [self.cookie.as_deref(), self.lang.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match self.cookies() {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let r = req.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookie: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for c in &set_cookie {
            let pair = c.split(';').next().unwrap_or("").trim().to_owned();
            if pair.starts_with("overgang_lang=") {
                self.lang = Some(pair);
            } else if c.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        let body = r.text().await.unwrap_or_default();
        if let Some(t) = csrf_of(&body) {
            self.csrf = Some(t);
        }
        Page {
            status,
            location,
            set_cookie,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A GET that must answer 200; the page.
    pub async fn page(&mut self, path: &str) -> String {
        let p = self.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "GET {path}: {}", p.body);
        p.body
    }

    /// Posts a form with the current CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts a form exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// A POST with no form at all (no body, no content type).
    pub async fn post_bare(&mut self, path: &str) -> Page {
        let req = self.client.post(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// Opens the login form and logs in; the answer to the login POST.
    pub async fn login(&mut self, user: &str, password: &str) -> Page {
        let form = self.get("/ui/login").await;
        assert_eq!(form.status, StatusCode::OK, "login form");
        self.post("/ui/login", &[("user", user), ("password", password)])
            .await
    }

    /// Logs in and insists it worked.
    pub async fn login_ok(&mut self, user: &str, password: &str) {
        let p = self.login(user, password).await;
        assert_eq!(
            p.status,
            StatusCode::SEE_OTHER,
            "login of {user}: {}",
            p.body
        );
    }

    /// Logs in (`next=/ui/`) and checks the sessions on the way: the login
    /// form starts one (a session cookie and a CSRF token), the login
    /// answers 303 and starts a new one (another session cookie). The old
    /// session's token is forgotten: `csrf` is the new session's once a page
    /// has shown it. Returns the old session's token.
    pub async fn login_new_session(&mut self, user: &str, password: &str) -> String {
        let form = self.get("/ui/login").await;
        assert_eq!(form.status, StatusCode::OK, "login form");
        assert!(form.sets_session(), "the login form starts a session");
        let before = self.cookie.clone().expect("a session cookie");
        let token = csrf_of(&form.body).expect("a login form with a CSRF token");
        let p = self
            .post(
                "/ui/login",
                &[("user", user), ("password", password), ("next", "/ui/")],
            )
            .await;
        assert_eq!(
            p.status,
            StatusCode::SEE_OTHER,
            "login of {user}: {}",
            p.body
        );
        assert!(p.sets_session(), "a new session at login");
        assert_ne!(self.cookie.as_ref(), Some(&before), "a new session id");
        self.csrf = None;
        token
    }
}

/// Percent-encoding for form fields.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
