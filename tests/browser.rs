//! The web pages in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against the real `overgang serve` binary on loopback with
//! the demo registry, the demo users (`config/users/demo.toml`) and
//! simulated receivers (`overgang simulate receiver`).
//!
//! - a nurse logs in through the form, sees an incomplete official example
//!   with its warnings on the worklist, opens it and reads its findings, the
//!   findings marked in the document and the functional profile;
//! - the same nurse is refused (403) another unit's message;
//! - an operator replays a dead letter from the dead-letter page and sees it
//!   delivered;
//! - an administrator sees the nurse's look at the message in the access log;
//! - the language toggle switches to English and back.
//!
//! Chromium and ChromeDriver must be installed (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them): without them the tests fail,
//! never skip. `OVERGANG_SCREENSHOTS=1` saves the main pages as PNG files in
//! `docs/screenshots/`; without it the tests write nothing into the
//! repository. See docs/UI.md ("Browser tests").

mod support {
    pub mod browser;
    pub mod corpus;
    pub mod delivery;
    pub mod patients;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
    pub mod wait;
}

use serde_json::Value;
use std::time::Duration;
use support::browser::{bounded, demo_users, Browser};
use support::delivery::{eventually, message_deliveries, Net, ALVDAL, ST_OLAV, WAIT};
use support::server::with_msg_id;

/// The longest one test may take, browser start to the last page.
const TEST_LIMIT: Duration = Duration::from_secs(240);

/// The demo people (`config/users/demo.toml`'s header comment).
const NURSE: (&str, &str) = ("sykepleier", "demo-sykepleier");
const OPERATOR: (&str, &str) = ("drift", "demo-drift");
const ADMIN: (&str, &str) = ("admin", "demo-admin");
const COORDINATOR: (&str, &str) = ("koordinator", "demo-koordinator");

/// An incomplete official example from Alvdal kommune (99387, unit 5078:
/// the demo nurse's units) to St. Olavs hospital (59, unit 91090): accepted
/// with seven warnings, five of them on its functional profile.
const INCOMPLETE: &str = "Innleggelsesrapport_v1-6_Ny.xml";
const INCOMPLETE_WARNINGS: usize = 7;

fn example(name: &str) -> Vec<u8> {
    std::fs::read(support::corpus::official_dir().join(name)).expect("read example")
}

/// `bytes` with a fresh MsgId.
fn fresh(bytes: &[u8]) -> Vec<u8> {
    with_msg_id(bytes, &uuid::Uuid::new_v4().to_string())
}

/// The official health information for a GP (from Alvdal kommune to
/// Kattskinnet legesenter) between fictitious Solvik parties instead: from
/// Solvik kommune (8100001, unit 8100002) to Solvik legekontor (8200011,
/// GP 8200012). None of them is the demo nurse's unit.
fn solvik_message() -> Vec<u8> {
    let text = String::from_utf8(example("Helseopplysninger_til_lege_v1-6_Ny.xml")).expect("utf-8");
    let mut out = text.clone();
    for (from, to) in [
        ("99387", "8100001"),
        ("5078", "8100002"),
        ("91096", "8200011"),
        ("91100", "8200012"),
    ] {
        let (from, to) = (format!("<Id>{from}</Id>"), format!("<Id>{to}</Id>"));
        assert_eq!(text.matches(&from).count(), 1, "{from} once in the example");
        out = out.replace(&from, &to);
    }
    fresh(out.as_bytes())
}

/// A gateway with the demo users and simulators for `sims`.
async fn gateway(tag: &str, sims: &[(u16, &str)]) -> Net {
    let users = demo_users().display().to_string();
    Net::start_with(
        tag,
        &[],
        sims,
        &[],
        &[("OVERGANG_UI__USERS", users.as_str())],
    )
    .await
}

/// The page's text, for assertion messages.
async fn shown(b: &Browser) -> String {
    format!("{} shows:\n{}", b.path().await, b.body_text().await)
}

/// What every page must be, checked in the browser: each form field has a
/// label (or an aria-label), each image a text, each button words, the
/// page its language, every text the contrast WCAG AA asks (4.5:1, 3:1 for
/// large text) against the background it stands on; and at a tablet's width (768 px) nothing makes the
/// page wider than the screen.
async fn assert_usable(b: &Browser, what: &str) {
    let problems: Value = b
        .client
        .execute(
            "const out = [];\
             if (!document.documentElement.getAttribute('lang')) out.push('no lang on <html>');\
             document.querySelectorAll('input, select, textarea').forEach(el => {\
               const t = (el.getAttribute('type') || '').toLowerCase();\
               if (['hidden', 'submit', 'button'].includes(t)) return;\
               if (el.labels.length === 0 && !el.getAttribute('aria-label')) out.push('unlabelled ' + el.outerHTML.slice(0, 80));\
             });\
             document.querySelectorAll('img').forEach(el => { if (!el.hasAttribute('alt')) out.push('img without alt'); });\
             document.querySelectorAll('button').forEach(el => { if (!el.textContent.trim() && !el.getAttribute('aria-label')) out.push('button without words'); });\
             const rgb = c => { const m = c.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };\
             const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });\
               return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };\
             const bg = el => { for (let a = el; a; a = a.parentElement) { const c = rgb(getComputedStyle(a).backgroundColor);\
               if (c.length < 4 || c[3] > 0.5) return c; } return [255, 255, 255]; };\
             document.querySelectorAll('body *').forEach(el => {\
               if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) return;\
               const st = getComputedStyle(el);\
               if (st.visibility === 'hidden' || st.display === 'none' || el.closest('.visually-hidden, .skip')) return;\
               const a = lum(rgb(st.color)), b = lum(bg(el));\
               const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);\
               const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;\
               const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;\
               if (ratio < need) out.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': ' + el.tagName + '.' + el.className + ' ' + el.textContent.trim().slice(0, 30));\
             });\
             return out;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(problems, Value::Array(Vec::new()), "{what}: accessibility");
    b.client
        .set_window_size(768, 1024)
        .await
        .expect("tablet width");
    let wide: Value = b
        .client
        .execute(
            "const w = window.innerWidth;\
             const over = Array.from(document.querySelectorAll('body *'))\
               .filter(el => el.getBoundingClientRect().right > w + 1)\
               .filter(el => { for (let a = el.parentElement; a; a = a.parentElement) {\
                 const o = getComputedStyle(a).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return false; } return true; })\
               .slice(0, 5)\
               .map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right));\
             const sw = document.documentElement.scrollWidth;\
             const near = Array.from(document.querySelectorAll('body *')).filter(el => Math.abs(el.getBoundingClientRect().right - sw) < 3).slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + getComputedStyle(el).position);\
             return [sw, w, over.concat(near)];",
            vec![],
        )
        .await
        .expect("script");
    b.client
        .set_window_size(1280, 900)
        .await
        .expect("desktop width");
    let (page, screen) = (wide[0].as_i64().unwrap_or(0), wide[1].as_i64().unwrap_or(0));
    assert!(
        page <= screen + 1,
        "{what}: {page} px wide on a {screen} px tablet screen; too wide: {}",
        wide[2]
    );
}

/// The nurse's message page: findings, marks in the document, profile.
async fn assert_message_page(b: &Browser, id: &str) {
    b.wait_for("section.findings-top").await;
    assert_eq!(b.status().await, Some(200));
    assert!(
        b.text("dl.meta").await.contains(id),
        "the gateway id on the page; {}",
        shown(b).await
    );
    let findings = b
        .find_all("section.findings-top ol.findings li.finding.sev-warning")
        .await;
    assert_eq!(
        findings.len(),
        INCOMPLETE_WARNINGS,
        "warnings listed; {}",
        shown(b).await
    );
    let list = b.text("section.findings-top ol.findings").await;
    for code in ["FUNK-MERKNAD-01", "HAB-01", "IR-LM-01"] {
        assert!(list.contains(code), "{code} in the findings list:\n{list}");
    }
    // The clinical document (overgang-present): the places of the findings
    // are marked, and every finding's link leads to a marked place.
    let marked = b.count("section.document .has-finding").await;
    assert!(
        marked >= 1,
        "no element with class has-finding in the document; {}",
        shown(b).await
    );
    let links: Value = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('ol.findings a[href^=\"#\"]')).map(a => {\
               const t = document.getElementById(a.getAttribute('href').slice(1));\
               return [a.getAttribute('href'), !!t && (t.closest('.has-finding') !== null\
                 || t.querySelector('.has-finding') !== null)];\
             });",
            vec![],
        )
        .await
        .expect("script");
    let links = links.as_array().expect("array");
    assert!(!links.is_empty(), "the findings link to the document");
    for l in links {
        assert_eq!(l[1], true, "{} leads to no marked place", l[0]);
    }
    // The functional profile, as a table.
    b.find("section.profile").await;
    assert!(
        b.count("section.profile table").await >= 1,
        "the functional profile as a table; {}",
        shown(b).await
    );
}

// ---- a. The nurse's worklist and message page -------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_logs_in_sees_the_warnings_on_the_worklist_and_opens_the_message() {
    bounded(TEST_LIMIT, async {
        let net = gateway("browser-nurse", &[(ST_OLAV, "ok"), (ALVDAL, "ok")]).await;
        let posted = net.post(example(INCOMPLETE)).await;
        assert_eq!(
            posted.status,
            reqwest::StatusCode::CREATED,
            "{}",
            posted.body
        );
        let id = posted.id.expect("id");

        let b = Browser::start(&net.gw.url).await;
        b.log_in(NURSE.0, NURSE.1, "/ui/worklist", Some("login"))
            .await;
        assert_eq!(b.status().await, Some(200));
        assert_eq!(b.text("main h1").await, "Arbeidsliste");
        assert!(
            b.text("header.top .who").await.contains("Siri Sykepleier"),
            "the nurse's name in the header"
        );

        // The example's row: marked as having warnings, with their count.
        let link = format!("#worklist a[href=\"/ui/messages/{id}\"]");
        b.wait_for(&link).await;
        let rows = b.find_all("#worklist tbody tr").await;
        assert_eq!(rows.len(), 1, "{}", shown(&b).await);
        let row = &rows[0];
        assert_eq!(
            row.attr("class").await.expect("class").as_deref(),
            Some("sev-warning")
        );
        let text = row.text().await.expect("row text");
        assert!(
            text.contains(&format!("{INCOMPLETE_WARNINGS} advarsler")),
            "the warnings on the worklist: {text}"
        );
        assert!(
            text.contains("Sykepleietjeneste (5078)"),
            "the sender: {text}"
        );
        b.screenshot("worklist").await;
        assert_usable(&b, "the worklist").await;

        // Opened from the worklist.
        b.click(&link).await;
        b.wait_path("the message page", |p| p == format!("/ui/messages/{id}"))
            .await;
        b.wait_for("section.findings-top").await;
        b.screenshot("message").await;
        assert_message_page(&b, &id).await;
        assert_usable(&b, "the message page").await;
        b.close().await;
    })
    .await;
}

// ---- b. Another unit's message ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_opening_another_units_message_gets_the_403_page() {
    bounded(TEST_LIMIT, async {
        let net = gateway("browser-other-unit", &[]).await;
        let own = net.post_ok(example(INCOMPLETE)).await;
        let other = net.post_ok(solvik_message()).await;

        let b = Browser::start(&net.gw.url).await;
        b.log_in(NURSE.0, NURSE.1, "/ui/worklist", None).await;
        b.wait_for("#worklist").await;
        let listed = b.find_all("#worklist tbody tr").await.len();
        assert_eq!(listed, 1, "only the own unit's message is listed");
        assert_eq!(
            b.count(&format!("a[href=\"/ui/messages/{other}\"]")).await,
            0,
            "another unit's message on the worklist"
        );
        assert_eq!(
            b.count(&format!("a[href=\"/ui/messages/{own}\"]")).await,
            2,
            "the own message's time and patient link to it"
        );

        // Typed into the address bar.
        let status = b.open(&format!("/ui/messages/{other}")).await;
        assert_eq!(status, Some(403), "{}", shown(&b).await);
        assert_eq!(b.text("main h1").await, "Ingen tilgang");
        assert!(
            b.text("main").await.contains("Forsøket er registrert"),
            "{}",
            shown(&b).await
        );
        assert_eq!(
            b.count("section.findings-top, section.document").await,
            0,
            "nothing of the message is shown"
        );
        // Still logged in: the own message opens.
        b.open_ok(&format!("/ui/messages/{own}")).await;
        b.wait_for("section.findings-top").await;
        b.close().await;
    })
    .await;
}

// ---- c. The operator replays a dead letter -------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_dead_letter_and_sees_it_delivered() {
    bounded(TEST_LIMIT, async {
        // The hospital's system refuses the message (HTTP 400): a refusal
        // is not retried, the delivery is dead-lettered at once.
        let net = gateway("browser-replay", &[(ST_OLAV, "http:400"), (ALVDAL, "ok")]).await;
        let id = net.post_ok(fresh(&example(INCOMPLETE))).await;
        let did = eventually("the delivery to be dead-lettered", WAIT, || async {
            let ds = net.deliveries(&id).await;
            match message_deliveries(&ds).as_slice() {
                [d] if d["state"] == "dead_letter" => Ok(d["id"].as_i64().expect("id")),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        // The hospital mends its system; the next attempt gets through.
        net.sim(ST_OLAV).set_behaviour(&net.c, "ok").await;

        let b = Browser::start(&net.gw.url).await;
        let landed = b.log_in_anywhere(OPERATOR.0, OPERATOR.1).await;
        assert!(
            landed.starts_with("/ui/ops"),
            "an operator lands on the queues: {landed}"
        );
        let status = b.status().await;
        b.assert_ok("the operator's start page", status).await;
        b.wait_for("main h1").await;
        b.screenshot("ops-dashboard").await;
        assert_usable(&b, "the operators' dashboard").await;
        // The dashboard refreshes itself in place: the script fetches the
        // fragment (every 5 s) and the page is not loaded again (a mark
        // set on this page's window survives).
        b.client
            .execute("window.overgangMark = 1; return null;", vec![])
            .await
            .expect("script");
        b.wait_for("#dashboard[data-refreshed]").await;
        let kept: Value = b
            .client
            .execute("return window.overgangMark === 1;", vec![])
            .await
            .expect("script");
        assert_eq!(
            kept,
            Value::Bool(true),
            "the dashboard reloaded the whole page"
        );

        b.open_ok("/ui/ops/dead-letters").await;
        // The delivery's own replay form (the page also has forms that
        // replay many at once, to the same `/replay` ending).
        let form = format!("form[action=\"/ui/ops/deliveries/{did}/replay\"]");
        assert_eq!(
            b.count(&form).await,
            1,
            "the dead letter's replay form; {}",
            shown(&b).await
        );
        // A reason, if the form asks for one.
        let reason = format!("{form} [name=\"reason\"]");
        if b.count(&reason).await > 0 {
            b.type_into(&reason, "mottakeren har rettet feilen").await;
        }
        b.screenshot("dead-letters").await;
        assert_usable(&b, "the dead letters").await;
        let status = b.click_and_load(&format!("{form} button")).await;
        b.assert_ok("the page after the replay", status).await;

        // The message's operator page shows the delivery acknowledged
        // ("Kvittert").
        let page = format!("/ui/ops/messages/{id}");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            b.open_ok(&page).await;
            let badges = b
                .find_all(&format!("#deliveries tr[data-delivery=\"{did}\"] .badge"))
                .await;
            let mut texts = Vec::new();
            for e in &badges {
                texts.push(e.text().await.unwrap_or_default());
            }
            if texts.iter().any(|t| t == "Kvittert") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited {WAIT:?} for the delivery to be acknowledged; badges {texts:?}; {}",
                shown(&b).await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        b.screenshot("ops-message").await;
        assert_usable(&b, "the timeline").await;

        // The replay is the operator's, in the delivery's history.
        let d = net
            .get_ok(
                &format!("/api/v1/deliveries/{did}"),
                support::delivery::OPS_TOKEN,
            )
            .await;
        assert_eq!(d["state"], "acknowledged", "{d:#}");
        let replayed = d["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["from"] == "dead_letter" && e["to"] == "queued")
            .unwrap_or_else(|| panic!("no replay in {d:#}"));
        assert!(
            replayed["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("user:drift")),
            "the operator replayed it: {replayed}"
        );
        b.close().await;
    })
    .await;
}

// ---- d. The administrator's access log ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_the_nurses_look_at_the_message_in_the_access_log() {
    bounded(TEST_LIMIT, async {
        let net = gateway("browser-access", &[]).await;
        let id = net.post_ok(example(INCOMPLETE)).await;

        let b = Browser::start(&net.gw.url).await;
        let page = format!("/ui/messages/{id}");
        b.log_in(NURSE.0, NURSE.1, &page, None).await;
        b.wait_for("section.findings-top").await;
        b.log_out().await;

        b.log_in(ADMIN.0, ADMIN.1, "/ui/admin/access", None).await;
        let rows = b.find_all("table tbody tr").await;
        let mut found = None;
        for r in &rows {
            let t = r.text().await.unwrap_or_default();
            let words: Vec<&str> = t.split_whitespace().collect();
            if words.contains(&"sykepleier") && t.contains("view_message") {
                found = Some(t);
                break;
            }
        }
        let row = found.unwrap_or_else(|| {
            panic!(
                "no row of sykepleier's view_message among {} rows",
                rows.len()
            )
        });
        assert!(
            row.contains(&id) || row.contains(&id[..8]),
            "the row names the message {id}: {row}"
        );
        b.screenshot("admin-access").await;
        assert_usable(&b, "the access log").await;
        b.close().await;
    })
    .await;
}

// ---- e. Bokmål and English -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_toggle_switches_to_english_and_back() {
    bounded(TEST_LIMIT, async {
        let net = gateway("browser-lang", &[]).await;
        let b = Browser::start(&net.gw.url).await;
        b.log_in(NURSE.0, NURSE.1, "/ui/worklist", None).await;
        assert_eq!(b.lang().await, "nb");
        assert_eq!(b.text("main h1").await, "Arbeidsliste");
        assert_eq!(b.text("header.top nav a").await, "Arbeidsliste");

        b.click("header.top .tools a[lang=\"en\"]").await;
        b.wait_for("html[lang=\"en\"]").await;
        assert_eq!(b.path().await, "/ui/worklist", "back where it was");
        assert_eq!(b.text("main h1").await, "Worklist");
        assert_eq!(b.text("header.top nav a").await, "Worklist");
        assert_eq!(
            b.text("form[action=\"/ui/logout\"] button").await,
            "Log out"
        );
        assert_eq!(b.text("header.top .tools a[lang=\"nb\"]").await, "Norsk");
        // The choice is kept (a cookie): the next page is English too.
        b.goto("/ui/worklist?findings=1").await;
        b.wait_for("main h1").await;
        assert_eq!(b.lang().await, "en");
        assert_eq!(b.text("main h1").await, "Worklist");

        b.click("header.top .tools a[lang=\"nb\"]").await;
        b.wait_for("html[lang=\"nb\"]").await;
        assert_eq!(b.path().await, "/ui/worklist?findings=1");
        assert_eq!(b.text("main h1").await, "Arbeidsliste");
        assert_eq!(
            b.text("form[action=\"/ui/logout\"] button").await,
            "Logg ut"
        );
        b.close().await;
    })
    .await;
}

// ---- f. The coordinator's discharge-ready board ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_sees_the_discharge_ready_board_with_days_and_cost() {
    bounded(TEST_LIMIT, async {
        let users = demo_users().display().to_string();
        let rules = support::corpus::repo().join("config/flow-demo.toml");
        let rules = rules.display().to_string();
        let net = Net::start_with(
            "browser-flow",
            &[],
            &[(ST_OLAV, "ok"), (ALVDAL, "ok")],
            &[],
            &[
                ("OVERGANG_UI__USERS", users.as_str()),
                ("OVERGANG_FLOW__FILE", rules.as_str()),
            ],
        )
        .await;
        // Admitted 6 days ago, declared ready 3 days ago, no answer.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis() as i64;
        let today = overgang_flow::time::oslo_day(now);
        let admitted = overgang_flow::time::day_string(today - 6);
        let ready = overgang_flow::time::day_string(today - 3);
        let mut notice = String::new();
        for name in [
            "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
            "Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml",
        ] {
            let bytes = support::corpus::journey_step(name, &admitted, &ready);
            notice = net.post_ok(fresh(&bytes)).await;
        }
        // The receiver's AppRec on the ready notice: the proof of notice.
        net.wait_one(&notice, "acknowledged").await;

        let b = Browser::start(&net.gw.url).await;
        let landed = b.log_in_anywhere(COORDINATOR.0, COORDINATOR.1).await;
        assert!(
            landed.starts_with("/ui/flow"),
            "a coordinator lands on the board: {landed}"
        );
        b.wait_for("table.board tbody tr").await;
        let rows = b.find_all("table.board tbody tr").await;
        assert_eq!(rows.len(), 1, "{}", shown(&b).await);
        let row = rows[0].text().await.expect("row");
        let config = overgang_flow::FlowConfig::parse(
            &std::fs::read_to_string(support::corpus::repo().join("config/flow-demo.toml"))
                .expect("rules"),
        )
        .expect("rules parse");
        let ready_at = overgang_flow::time::oslo_day_start(today - 3);
        let (days, cost, _) = overgang_flow::count_days(&config, ready_at, now);
        assert!(row.contains("Roland Gundersen"), "the patient: {row}");
        assert!(
            row.split_whitespace().any(|w| w == days.to_string()),
            "{days} days: {row}"
        );
        let thousands = (cost / 1000).to_string();
        assert!(
            row.contains(&thousands) && row.contains("kr"),
            "{cost} kr: {row}"
        );
        assert!(
            !row.contains("ingen kvittering"),
            "the AppRec is the proof: {row}"
        );
        b.screenshot("flow-board").await;
        assert_usable(&b, "the discharge-ready board").await;

        b.open_ok("/ui/flow/overdue").await;
        let text = b.body_text().await;
        assert!(text.contains("Alvdal"), "Alvdal's overdue answers: {text}");
        b.screenshot("flow-overdue").await;
        assert_usable(&b, "the overdue messages").await;
        b.close().await;
    })
    .await;
}
