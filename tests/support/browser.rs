//! Headless Chromium driven over WebDriver, for the browser tests.
//!
//! Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `CHROMIUM` and `CHROMEDRIVER` in the
//! environment name others). A missing browser or driver fails the test
//! with the command that installs them: CI installs them (`.ci/run`).
//!
//! Each [`Browser`] starts its own `chromedriver --port=PORT` (a free
//! loopback port) in a process group of its own; chromedriver starts
//! Chromium in that group, headless, with a fresh profile in a temporary
//! folder and the flags this machine needs (no background networking: the
//! machine's network is closed). Dropping the browser kills the whole group
//! (SIGKILL), so nothing outlives a test, even one that panicked.
//!
//! Pages are read with CSS selectors; a helper waits (bounded) for what a
//! page shows after a click. Screenshots of pages go to `docs/screenshots/`
//! only when `OVERGANG_SCREENSHOTS=1`.

#![allow(dead_code)] // each test crate uses part of this module

use super::tempdir::TempDir;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
pub const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The window every test sees (and every screenshot has).
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 900;

/// How long a test waits for a page to show something.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// Browsers at once in one test binary: two cores, and each test runs a
/// gateway and simulators beside its browser.
static BROWSERS: Semaphore = Semaphore::const_new(2);

/// The flags Chromium needs on this machine (docs/UI.md ("Browser tests")).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

fn program(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let runnable = std::fs::metadata(&p)
        .map(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
        .unwrap_or(false);
    assert!(
        runnable,
        "the browser tests need Chromium and ChromeDriver, and {} is missing \
         (set {var} to use another). Install them with:\n    \
         apt-get install -y chromium chromium-driver\n(.ci/run installs them on CI)",
        p.display()
    );
    p
}

/// chromedriver, in a process group of its own with Chromium under it.
struct Driver {
    child: Child,
    log: PathBuf,
}

impl Driver {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (process_group(0)): this
        // kills chromedriver and the Chromium processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Browser {
    pub client: Client,
    /// The gateway: `http://127.0.0.1:PORT`.
    pub base: String,
    driver: Driver,
    _profile: TempDir,
    _slot: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for pages under `base`.
    pub async fn start(base: &str) -> Browser {
        let chromium = program("CHROMIUM", DEFAULT_CHROMIUM);
        let chromedriver = program("CHROMEDRIVER", DEFAULT_CHROMEDRIVER);
        let slot = BROWSERS.acquire().await.expect("the browser semaphore");
        let profile = TempDir::new("browser");
        let log = profile.path().join("chromedriver.log");
        let user_data = profile.path().join("profile");
        std::fs::create_dir_all(&user_data).expect("profile folder");

        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut driver = Driver { child, log };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before it listened; its log:\n{}",
                    driver.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 15 s; its log:\n{}",
                driver.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", user_data.display()));
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": args,
            },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "Chromium did not start within 30 s; chromedriver's log:\n{}",
                driver.log_text()
            )
        })
        .unwrap_or_else(|e| {
            panic!(
                "Chromium did not start: {e}; chromedriver's log:\n{}",
                driver.log_text()
            )
        });
        // The page's viewport is WIDTH × HEIGHT: the window is that plus
        // what headless Chromium reserves for its (invisible) frame.
        client
            .set_window_size(WIDTH, HEIGHT)
            .await
            .expect("window size");
        let frame = client
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .expect("script");
        let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
        if extra(0) > 0 || extra(1) > 0 {
            client
                .set_window_size(WIDTH + extra(0), HEIGHT + extra(1))
                .await
                .expect("window size");
        }
        Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            driver,
            _profile: profile,
            _slot: slot,
        }
    }

    /// Ends the WebDriver session (Chromium quits); the drop then ends
    /// chromedriver.
    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens a page of the gateway (`path` from `/`).
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Opens a page and waits until it has loaded; its HTTP status.
    pub async fn open(&self, path: &str) -> Option<u16> {
        self.goto(path).await;
        self.wait_loaded().await;
        self.status().await
    }

    /// Opens a page that must answer 200 (fails at once on another status,
    /// with the page's text: a 404 means the page is not there).
    pub async fn open_ok(&self, path: &str) {
        let status = self.open(path).await;
        self.assert_ok(&format!("GET {path}"), status).await;
    }

    /// Fails unless `status` is 200.
    pub async fn assert_ok(&self, what: &str, status: Option<u16>) {
        if status != Some(200) {
            panic!(
                "{what}: HTTP {} on {}{}\n--- the page's text:\n{}",
                status.map_or("?".to_string(), |s| s.to_string()),
                self.path().await,
                if status == Some(404) {
                    " (the page is not there)"
                } else {
                    ""
                },
                self.body_text().await
            );
        }
    }

    /// Waits (at most [`PAGE_WAIT`]) until the document has loaded.
    pub async fn wait_loaded(&self) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let ready = self
                .client
                .execute("return document.readyState;", vec![])
                .await
                .map(|v| v == "complete")
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PAGE_WAIT:?} for {} to load",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("current URL");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    /// The HTTP status of the page shown (Navigation Timing).
    pub async fn status(&self) -> Option<u16> {
        let v = self
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0];\
                 return n && n.responseStatus ? n.responseStatus : null;",
                vec![],
            )
            .await
            .expect("script");
        v.as_u64().map(|n| n as u16)
    }

    /// The element `css` selects; fails at once when there is none.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "no element {css} on {}: {e}\n--- the page's text:\n{}",
                self.path().await,
                self.body_text().await
            ),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    pub async fn count(&self, css: &str) -> usize {
        self.find_all(css).await.len()
    }

    /// The element `css` selects, waiting for it at most [`PAGE_WAIT`].
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "waited {PAGE_WAIT:?} for {css} on {}: {e}\n--- the page's text:\n{}",
                self.path().await,
                self.body_text().await
            ),
        }
    }

    /// Waits (at most [`PAGE_WAIT`]) until the current path satisfies `ok`;
    /// the path.
    pub async fn wait_path(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let p = self.path().await;
            let ready = self
                .client
                .execute("return document.readyState;", vec![])
                .await
                .map(|v| v == "complete")
                .unwrap_or(false);
            if ok(&p) && ready {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PAGE_WAIT:?} for {what}; still on {p}\n--- the page's text:\n{}",
                self.body_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of `css` (the first match).
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The visible text of the whole page (empty when there is no body).
    pub async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The `lang` attribute of `<html>`.
    pub async fn lang(&self) -> String {
        self.find("html")
            .await
            .attr("lang")
            .await
            .expect("attr")
            .unwrap_or_default()
    }

    /// Types into the field `css` (cleared first).
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks `css` (a link or a form's button) and waits, at most
    /// [`PAGE_WAIT`], until the next page has loaded; its HTTP status.
    pub async fn click_and_load(&self, css: &str) -> Option<u16> {
        self.client
            .execute("window.__overgang_old_page = true;", vec![])
            .await
            .expect("script");
        self.click(css).await;
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__overgang_old_page !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .map(|v| v == true)
                .unwrap_or(false);
            if loaded {
                return self.status().await;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PAGE_WAIT:?} for a page after clicking {css}; still on {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Logs in through the form as a person would: opens `path` (a page
    /// behind the login), is sent to the login page, types the name and
    /// password, clicks the button, and lands on `path`'s page. The login
    /// page is saved as `screenshot` when given.
    pub async fn log_in(&self, user: &str, password: &str, path: &str, screenshot: Option<&str>) {
        let status = self.open(path).await;
        if !self.path().await.starts_with("/ui/login") {
            self.assert_ok(&format!("GET {path} before logging in"), status)
                .await;
            panic!("GET {path} before logging in did not lead to the login page");
        }
        self.wait_for("form[action=\"/ui/login\"] input[name=\"_csrf\"]")
            .await;
        self.type_into("#user", user).await;
        self.type_into("#password", password).await;
        if let Some(name) = screenshot {
            self.screenshot(name).await;
        }
        self.click("form[action=\"/ui/login\"] button[type=\"submit\"]")
            .await;
        let want = path.split('?').next().unwrap_or(path).to_owned();
        self.wait_path(&format!("{user} to land on {path}"), |p| {
            !p.starts_with("/ui/login") && p.starts_with(&want)
        })
        .await;
        let status = self.status().await;
        self.assert_ok(&format!("{path} after logging in"), status)
            .await;
    }

    /// Logs in from the login page (any landing page but the login).
    pub async fn log_in_anywhere(&self, user: &str, password: &str) -> String {
        self.goto("/ui/login").await;
        self.wait_for("#user").await;
        self.type_into("#user", user).await;
        self.type_into("#password", password).await;
        self.click("form[action=\"/ui/login\"] button[type=\"submit\"]")
            .await;
        self.wait_path(&format!("{user} to be logged in"), |p| {
            !p.starts_with("/ui/login")
        })
        .await
    }

    /// Clicks "Log out" in the page header and waits for the login page.
    pub async fn log_out(&self) {
        self.click("form[action=\"/ui/logout\"] button").await;
        self.wait_path("the login page after logging out", |p| {
            p.starts_with("/ui/login")
        })
        .await;
    }

    /// Saves a PNG of the window as `docs/screenshots/NAME.png`, only when
    /// `OVERGANG_SCREENSHOTS=1` (tests write nothing into the repository
    /// otherwise).
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("OVERGANG_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        // Let fonts and styles settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("docs/screenshots");
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).expect("write the screenshot");
        eprintln!("screenshot: {}", file.display());
    }

    pub fn driver_log(&self) -> String {
        self.driver.log_text()
    }
}

pub fn screenshots_dir() -> PathBuf {
    super::corpus::repo().join("docs/screenshots")
}

/// Runs `f`, failing the test when it takes longer than `limit`.
pub async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("the test took longer than {limit:?}"),
    }
}

/// The demo users file (`config/users/demo.toml`; names and passwords in
/// its header comment).
pub fn demo_users() -> PathBuf {
    let p = super::corpus::repo().join("config/users/demo.toml");
    assert!(Path::new(&p).is_file(), "{} is missing", p.display());
    p
}
