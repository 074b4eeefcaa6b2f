//! The operators' web pages against the real `overgang serve`, delivering
//! to real receiver simulators (`support::delivery`), with a users file of
//! an operator and a nurse, over HTTP as a browser without script would:
//! a session cookie, the CSRF field of each form, redirects not followed.
//!
//! - not logged in: the pages send to the login page, the dashboard's
//!   fragment answers 401; a nurse gets 403 on every operator page and
//!   action;
//! - the dashboard and its fragment list the destinations;
//! - a message the receiver refuses (HTTP 400) is on the dead-letter page;
//!   a replay without the CSRF field is refused (403), with it the delivery
//!   is queued again with the operator in its events; a cancellation
//!   without a reason is refused (400), with one it is recorded;
//! - replaying every dead letter to a destination asks on a page of its
//!   own first, and only the confirmed second POST replays;
//! - search by metadata and a message's timeline;
//! - no page shows the patient's name or national id.

mod support {
    pub mod corpus;
    pub mod delivery;
    pub mod patients;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
    pub mod ui;
    pub mod wait;
}

use overgang_server::ui::people::Role;
use reqwest::StatusCode;
use serde_json::Value;
use support::corpus::example;
use support::delivery::{eventually, message_deliveries, Net, ALVDAL, KATTSKINNET, ST_OLAV, WAIT};
use support::server::{fresh, TempDir};
use support::ui::{csrf_of, users_file_named, Person};

const OPERATOR: &str = "drift";
const OPERATOR_PASSWORD: &str = "drift-passord-123";
const NURSE: &str = "sykepleier";
const NURSE_PASSWORD: &str = "sykepleier-passord-123";
/// The GP's office the poisoned messages go to (its system answers 400).
const GP: &str = "91100";

/// An example to the GP with a fresh MsgId; the MsgId and the bytes.
fn to_gp() -> (String, Vec<u8>) {
    fresh(&example("Helseopplysninger_til_lege_v1-6_Ny.xml"))
}

/// A users file with an operator and a nurse (of the GP's office).
fn users_file(dir: &TempDir) -> String {
    let path = users_file_named(
        dir.path(),
        &[
            (
                OPERATOR,
                "Driftsvakt",
                OPERATOR_PASSWORD,
                &[Role::Operator],
                &[],
            ),
            (NURSE, "Sykepleier", NURSE_PASSWORD, &[Role::Nurse], &[GP]),
        ],
    );
    path.display().to_string()
}

/// Logs in at a new browser; the CSRF token of the new session.
async fn login(base: &str, user: &str, password: &str) -> (Person, String) {
    let mut b = Person::new(base);
    let csrf = b.login_new_session(user, password).await;
    // A new session at login, with a token of its own.
    let home = b.get("/ui/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER, "{}", home.body);
    let start = home.location.expect("start page");
    let page = b.page(&start).await;
    let csrf2 = csrf_of(&page).unwrap_or_else(|| panic!("no CSRF field in the page:\n{page}"));
    assert_ne!(csrf, csrf2);
    (b, csrf2)
}

/// A delivery (admin API) and its events.
async fn delivery(net: &Net, id: i64) -> (String, Vec<Value>) {
    let d = net.delivery(id).await;
    (
        d["state"].as_str().expect("state").to_owned(),
        d["events"].as_array().expect("events").clone(),
    )
}

async fn the_gp_delivery(net: &Net, message: &str) -> i64 {
    let ds = net.deliveries(message).await;
    let m = message_deliveries(&ds);
    assert_eq!(m.len(), 1, "{ds:#?}");
    m[0]["id"].as_i64().expect("id")
}

async fn wait_state(net: &Net, id: i64, state: &str) -> Vec<Value> {
    eventually(&format!("delivery {id} {state}"), WAIT, || async {
        let (st, events) = delivery(net, id).await;
        if st == state {
            Ok(events)
        } else {
            Err(st)
        }
    })
    .await
}

/// The events of `events` by `actor` into state `to`.
fn by<'a>(events: &'a [Value], actor: &str, to: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["actor"] == actor && e["to"] == to)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_queues_and_replay_or_cancel_dead_letters() {
    let users_dir = TempDir::new("ui-ops-users");
    let users = users_file(&users_dir);
    let net = Net::start_with(
        "ui-ops",
        &[],
        &[(ST_OLAV, "ok"), (ALVDAL, "ok"), (KATTSKINNET, "http:400")],
        &[],
        &[("OVERGANG_UI__USERS", users.as_str())],
    )
    .await;
    let url = net.gw.url.clone();
    let actor = format!("user:{OPERATOR}");

    // Two messages the GP's office refuses, and one that goes through.
    let (msg1, poison1) = to_gp();
    let (_, poison2) = to_gp();
    let (_, fine) = fresh(&example("Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml"));
    let id1 = net.post_ok(poison1.clone()).await;
    let id2 = net.post_ok(poison2.clone()).await;
    let fine_id = net.post_ok(fine.clone()).await;
    let d1 = the_gp_delivery(&net, &id1).await;
    let d2 = the_gp_delivery(&net, &id2).await;
    wait_state(&net, d1, "dead_letter").await;
    wait_state(&net, d2, "dead_letter").await;
    net.wait_one(&fine_id, "acknowledged").await;
    let mut pages = Vec::new();

    // Not logged in: to the login page; the fragment says 401.
    let mut anon = Person::new(&url);
    for path in ["/ui/ops", "/ui/ops/dead-letters", "/ui/ops/messages"] {
        let a = anon.get(path).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            a.location
                .as_deref()
                .is_some_and(|l| l.starts_with("/ui/login")),
            "{path}: {:?}",
            a.location
        );
    }
    let a = anon.get("/ui/ops/dashboard.fragment").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = anon
        .post_raw(&format!("/ui/ops/deliveries/{d1}/replay"), &[])
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // A nurse is no operator.
    let (mut nurse, nurse_csrf) = login(&url, NURSE, NURSE_PASSWORD).await;
    for path in [
        "/ui/ops",
        "/ui/ops/dashboard.fragment",
        "/ui/ops/dead-letters",
        "/ui/ops/messages",
        &format!("/ui/ops/messages/{id1}"),
    ] {
        assert_eq!(
            nurse.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let a = nurse
        .post_raw(
            &format!("/ui/ops/deliveries/{d1}/replay"),
            &[("_csrf", &nurse_csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(delivery(&net, d1).await.0, "dead_letter");

    // The operator's dashboard and its fragment list the destinations.
    let (mut ops, csrf) = login(&url, OPERATOR, OPERATOR_PASSWORD).await;
    let dash = ops.page("/ui/ops").await;
    assert!(
        dash.contains(r#"data-refresh="/ui/ops/dashboard.fragment""#),
        "{dash}"
    );
    for her in [GP, "5078"] {
        assert!(
            dash.contains(&format!(r#"data-her="{her}""#)),
            "{her}: {dash}"
        );
    }
    let fragment = ops.page("/ui/ops/dashboard.fragment").await;
    assert!(
        fragment.contains(&format!(r#"data-her="{GP}""#)),
        "{fragment}"
    );
    assert!(!fragment.contains("<html"), "just the dashboard's body");
    assert!(
        fragment.contains(&format!("/ui/ops/dead-letters?receiver={GP}")),
        "the GP's dead letters are linked: {fragment}"
    );
    pages.extend([dash, fragment]);

    // Both dead letters are listed, with their forms.
    let dead = ops.page("/ui/ops/dead-letters").await;
    for d in [d1, d2] {
        assert!(
            dead.contains(&format!(r#"data-delivery="{d}""#)),
            "{d}: {dead}"
        );
        assert!(dead.contains(&format!(r#"action="/ui/ops/deliveries/{d}/replay""#)));
        assert!(dead.contains(&format!(r#"action="/ui/ops/deliveries/{d}/cancel""#)));
    }
    assert!(dead.contains("data-confirm="), "bulk replay asks first");
    pages.push(dead);

    // A replay without the form's token is refused, and nothing changes.
    let replay1 = format!("/ui/ops/deliveries/{d1}/replay");
    let a = ops
        .post_raw(&replay1, &[("back", "/ui/ops/dead-letters")])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = ops
        .post_raw(
            &replay1,
            &[("_csrf", "not-the-token"), ("back", "/ui/ops/dead-letters")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(delivery(&net, d1).await.0, "dead_letter");

    // A cancellation needs a reason.
    let cancel2 = format!("/ui/ops/deliveries/{d2}/cancel");
    let a = ops
        .post_raw(&cancel2, &[("_csrf", &csrf), ("reason", "   ")])
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.contains("Skriv hvorfor leveringen kanselleres"),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"aria-invalid="true""#));
    pages.push(a.body);
    assert_eq!(delivery(&net, d2).await.0, "dead_letter");
    let reason = "Feil mottaker, sendes manuelt";
    let a = ops
        .post_raw(
            &cancel2,
            &[
                ("_csrf", &csrf),
                ("reason", reason),
                ("back", "/ui/ops/dead-letters"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location.as_deref(),
        Some("/ui/ops/dead-letters?done=cancelled&n=1")
    );
    let (st, events) = delivery(&net, d2).await;
    assert_eq!(st, "cancelled");
    let cancelled = by(&events, &actor, "cancelled");
    assert_eq!(cancelled.len(), 1, "{events:#?}");
    assert!(
        cancelled[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(reason)),
        "{events:#?}"
    );
    let notice = ops.page(a.location.as_deref().expect("location")).await;
    assert!(notice.contains("Leveringen er kansellert."), "{notice}");

    // A replay with the token: queued again by the operator (and, as the
    // office still refuses, given up again).
    let a = ops
        .post_raw(
            &replay1,
            &[
                ("_csrf", &csrf),
                ("back", "/ui/ops/dead-letters?receiver=91100"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location.as_deref(),
        Some("/ui/ops/dead-letters?receiver=91100&done=replayed&n=1")
    );
    let events = wait_state(&net, d1, "dead_letter").await;
    let replayed = by(&events, &actor, "queued");
    assert_eq!(replayed.len(), 1, "{events:#?}");
    assert_eq!(replayed[0]["from"], "dead_letter");
    assert_eq!(
        events.last().expect("events")["to"],
        "dead_letter",
        "tried again after the replay: {events:#?}"
    );
    let history = net.message(&id1).await;
    assert!(
        history.to_string().contains(&actor),
        "the message's history names the operator: {history}"
    );

    // Replaying every dead letter to the office: a page asks first.
    let (_, poison3) = to_gp();
    let id3 = net.post_ok(poison3.clone()).await;
    let d3 = the_gp_delivery(&net, &id3).await;
    wait_state(&net, d3, "dead_letter").await;
    let bulk = [
        ("_csrf", csrf.as_str()),
        ("scope", "receiver"),
        ("receiver", GP),
        ("back", "/ui/ops/dead-letters"),
        ("confirm", ""),
    ];
    let a = ops.post_raw("/ui/ops/dead-letters/replay", &bulk).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("<strong>2</strong>"), "{}", a.body);
    assert!(
        a.body.contains(r#"name="confirm" value="yes""#),
        "{}",
        a.body
    );
    pages.push(a.body);
    for d in [d1, d3] {
        assert_eq!(delivery(&net, d).await.0, "dead_letter", "not yet");
    }
    // The office is fixed; the operator confirms.
    net.sim(KATTSKINNET).set_behaviour(&net.c, "ok").await;
    let mut confirmed = bulk;
    confirmed[4] = ("confirm", "yes");
    let a = ops
        .post_raw("/ui/ops/dead-letters/replay", &confirmed)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location.as_deref(),
        Some("/ui/ops/dead-letters?done=replayed&n=2")
    );
    for d in [d1, d3] {
        let events = wait_state(&net, d, "acknowledged").await;
        assert!(!by(&events, &actor, "queued").is_empty(), "{events:#?}");
    }
    assert_eq!(delivery(&net, d2).await.0, "cancelled", "not a dead letter");
    let dead = ops.page("/ui/ops/dead-letters?done=replayed&n=2").await;
    assert!(
        dead.contains("2 levering(er) er lagt i kø igjen."),
        "{dead}"
    );
    assert!(dead.contains("Ingen feilede leveranser."), "{dead}");
    pages.push(dead);

    // Search by metadata, and the timeline.
    let found = ops.page(&format!("/ui/ops/messages?receiver={GP}")).await;
    for id in [&id1, &id2, &id3] {
        assert!(found.contains(id.as_str()), "{id}: {found}");
    }
    assert!(!found.contains(&fine_id), "another receiver's message");
    let found = ops.page(&format!("/ui/ops/messages?msg_id={msg1}")).await;
    assert!(found.contains(&id1) && !found.contains(&id3), "{found}");
    pages.push(found);
    let timeline = ops.page(&format!("/ui/ops/messages/{id1}")).await;
    assert!(timeline.contains(&msg1), "{timeline}");
    assert!(timeline.contains(&format!(r#"data-delivery="{d1}""#)));
    assert!(timeline.contains(&actor), "{timeline}");
    assert!(timeline.contains("HTTP 400"), "the refusals: {timeline}");
    // Findings by code and place only: their texts may tell the patient's
    // state and are for the unit's nurses.
    let record = net.message(&id1).await;
    let findings = record["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "the example has findings: {record}");
    for f in findings {
        let code = f["code"].as_str().expect("code");
        assert!(timeline.contains(code), "{code} on the timeline");
        for text in [&f["text_nb"], &f["text_en"]] {
            let text = text.as_str().expect("text");
            assert!(
                !timeline.contains(text),
                "the text of {code} on an operator's page"
            );
        }
    }
    pages.push(timeline);
    let timeline2 = ops.page(&format!("/ui/ops/messages/{id2}")).await;
    assert!(timeline2.contains(reason), "{timeline2}");
    pages.push(timeline2);
    // The nurses' message page sends an operator to the timeline.
    let a = ops.get(&format!("/ui/messages/{id1}")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location, Some(format!("/ui/ops/messages/{id1}")));

    // Not one page names the patients.
    let secrets = support::patients::secrets([&poison1[..], &poison2[..], &poison3[..], &fine[..]]);
    for (i, p) in pages.iter().enumerate() {
        support::patients::assert_no_secrets(&format!("operator page {i}"), p, &secrets);
    }
}
