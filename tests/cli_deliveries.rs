//! End-to-end tests of `overgang deliveries …`: the real gateway (`overgang
//! serve`) delivering to a real simulated receiver (`overgang simulate
//! receiver`), and the CLI run as an operator would run it.
//!
//! The receiver first answers every message with HTTP 400, so each
//! delivery becomes a dead letter at once (deterministic: no retries). Then:
//!
//! - `list --state dead_letter` shows them (aligned table; `--json` parses);
//! - `show` gives the delivery and its events; `alerts` lists the dead letters;
//! - a non-admin token and a wrong token exit 2 with the reason in both
//!   languages; no token, plain http beyond loopback, an unreachable gateway
//!   exit 2;
//! - `cancel` of a dead letter succeeds; `cancel` without `--reason` is a
//!   usage error (2);
//! - with the receiver switched to `ok`: `replay ID` → `queued`, then
//!   `acknowledged`, the person and reason in the events;
//!   `replay --all-dead-letters --receiver HER` replays the rest; again:
//!   nothing to replay;
//! - `cancel` of an acknowledged delivery, an unknown id, and a replay that
//!   includes them exit 1 with the refusal;
//! - `stats` counts by state (text and JSON);
//! - no national id or name of the messages' patients in any output;
//! - the gateway starts with the CLI's variables (`OVERGANG_URL`,
//!   `OVERGANG_TOKEN`) in its environment;
//! - over https with a private CA, `--ca` makes the certificate trusted;
//!   without it, a connection error (exit 2).

mod support {
    pub mod certs;
    pub mod corpus;
    pub mod server;
    pub mod simulator;
    pub mod tempdir;
}

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::server::{client, with_msg_id, Server, TempDir, DEMO_TOKEN};
use support::simulator::Simulator;

/// An admin system's token (`config/demo.toml`, system `demo-ops`).
const OPS_TOKEN: &str = "demo-ops-token";
const OPS_TOKEN_HASH: &str = include_str!("support/ops-token-hash.txt");

/// The receiver the chosen examples are addressed to (Alvdal kommune's
/// Sykepleietjeneste in the demo registry).
const RECEIVER: &str = "5078";

/// `overgang ARGS` with the environment given (and none of the CLI's own
/// variables from the test's environment).
fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_overgang"));
    cmd.args(args)
        .env_remove("OVERGANG_URL")
        .env_remove("OVERGANG_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run overgang")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: exit status\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

#[track_caller]
fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{}", stdout(o));
    })
}

/// The demo registry with every endpoint and callback at the simulator, and
/// its secret files where they are in the repository.
fn registry_at(dir: &Path, sim_url: &str) -> PathBuf {
    support::server::demo_registry_copy(dir, |mut text| {
        for port in 9101..=9106 {
            text = text.replace(&format!("http://127.0.0.1:{port}"), sim_url);
        }
        text
    })
}

struct Setup {
    _tmp: TempDir,
    server: Server,
    sim: Simulator,
    token_file: PathBuf,
    http: reqwest::Client,
}

impl Setup {
    fn start(tag: &str) -> Setup {
        let tmp = TempDir::new(tag);
        let sim = Simulator::start(
            &["--behaviour", "http:400"],
            &tmp.path().join("simulator.log"),
        );
        let registry = registry_at(tmp.path(), &sim.url);
        let extra = format!(
            r#"[[systems]]
name = "ops"
token_hash = "{}"
admin = true

[delivery]
poll_ms = 100
"#,
            OPS_TOKEN_HASH.trim()
        );
        let config = support::server::test_config_with_registry(tmp.path(), &registry, "", &extra);
        // The CLI's own variables in the gateway's environment: `serve` must
        // start all the same (OVERGANG_SERVER would not: it names the
        // `[server]` section).
        let server = Server::start_env(
            &config,
            &[],
            &tmp.path().join("server.log"),
            &[
                ("OVERGANG_URL", "http://127.0.0.1:1"),
                ("OVERGANG_TOKEN", "not-a-token"),
            ],
        );
        let token_file = tmp.path().join("ops.token");
        std::fs::write(&token_file, format!("{OPS_TOKEN}\n")).expect("write token file");
        Setup {
            _tmp: tmp,
            server,
            sim,
            token_file,
            http: client(),
        }
    }

    /// `overgang deliveries ARGS --server URL --token-file F`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = vec!["deliveries"];
        all.extend_from_slice(args);
        let tf = self.token_file.to_string_lossy().into_owned();
        all.extend_from_slice(&["--server", &self.server.url, "--token-file", &tf]);
        cli(&all, &[])
    }

    /// Posts an official example with a fresh MsgId; the gateway's id.
    async fn post(&self, example: &str) -> String {
        let path = support::corpus::official_dir().join(example);
        let bytes = std::fs::read(&path).expect("read example");
        let body = with_msg_id(&bytes, &uuid::Uuid::new_v4().to_string());
        let r = self
            .http
            .post(format!("{}/api/v1/messages", self.server.url))
            .bearer_auth(DEMO_TOKEN)
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST message");
        assert_eq!(r.status().as_u16(), 201, "{example}");
        let v: Value = r.json().await.expect("JSON");
        v["id"].as_str().expect("id").to_owned()
    }

    /// The message's delivery to `RECEIVER` once it is in `state`.
    async fn wait_for(&self, message: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self
                .http
                .get(format!(
                    "{}/api/v1/messages/{message}/deliveries",
                    self.server.url
                ))
                .bearer_auth(DEMO_TOKEN)
                .send()
                .await
                .expect("GET deliveries");
            let v: Value = r.json().await.expect("JSON");
            let d = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["kind"] == "message" && d["receiver_her"] == RECEIVER)
                .cloned();
            if let Some(d) = &d {
                if d["state"] == state {
                    return d.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "message {message}: no delivery to {RECEIVER} in state {state}: {d:?}\nlog:\n{}",
                self.server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Official examples addressed to `RECEIVER`.
const EXAMPLES: [&str; 3] = [
    "Helseopplysninger_Varsel_om_innlagt_pasient_v1-6_Ny.xml",
    "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml",
    "Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml",
];

/// National ids and names of the examples' patients.
fn patient_secrets(examples: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for name in examples {
        let bytes = std::fs::read(support::corpus::official_dir().join(name)).expect("read");
        let doc = overgang_xml::parse(&bytes, &overgang_xml::Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = overgang_model::Message::read(&doc);
        let Some(p) = m.head.as_ref().and_then(|h| h.patient.as_ref()) else {
            continue;
        };
        out.extend(p.idents.iter().filter_map(|i| i.id.expose().clone()));
        for n in [&p.family_name, &p.given_name] {
            out.extend(n.expose().clone().filter(|n| n.trim().len() >= 3));
        }
    }
    out.iter().map(|s| s.trim().to_owned()).collect()
}

/// The character column at which `needle` starts in `line`.
fn column(line: &str, needle: &str) -> usize {
    let byte = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {line:?}"));
    line[..byte].chars().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_show_replay_cancel_and_read_alerts_and_stats() {
    let s = Setup::start("cli-deliveries");

    // Three messages to the same receiver, each a dead letter at once.
    let m_a = s.post(EXAMPLES[0]).await;
    let m_b = s.post(EXAMPLES[1]).await;
    let m_c = s.post(EXAMPLES[2]).await;
    let id_of = |d: &Value| d["id"].as_i64().expect("delivery id").to_string();
    let a = id_of(&s.wait_for(&m_a, "dead_letter").await);
    let b = id_of(&s.wait_for(&m_b, "dead_letter").await);
    let c = id_of(&s.wait_for(&m_c, "dead_letter").await);

    // list --state dead_letter: an aligned table with the three.
    let o = s.run(&["list", "--state", "dead_letter"]);
    assert_exit(&o, 0, "list --state dead_letter");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID  "), "{out}");
    assert_eq!(lines.len(), 4, "a header and three rows:\n{out}");
    let state_col = column(lines[0], "TILSTAND/STATE");
    let receiver_col = column(lines[0], "MOTTAKER/RECEIVER");
    let note_col = column(lines[0], "NESTE FORSØK/NEXT ATTEMPT");
    for id in [&a, &b, &c] {
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("delivery {id} not listed:\n{out}"));
        assert_eq!(column(row, "dead_letter"), state_col, "{out}");
        assert_eq!(column(row, RECEIVER), receiver_col, "{out}");
        assert_eq!(column(row, "mottakeren avviste"), note_col, "{out}");
        assert!(row.contains("HTTP 400"), "the last error, truncated: {row}");
        assert!(row.chars().count() - note_col <= 60, "truncated: {row}");
    }

    // --json is the API's answer.
    let o = s.run(&["list", "--state", "dead_letter", "--json"]);
    assert_exit(&o, 0, "list --json");
    let v = json(&o);
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{v}");
    assert!(items.iter().all(|d| d["state"] == "dead_letter"), "{v}");
    assert!(v.get("next_before").is_some(), "{v}");

    // show: the delivery and its events.
    let o = s.run(&["show", &a]);
    assert_exit(&o, 0, "show");
    let out = stdout(&o);
    assert!(out.contains(&format!("Levering / delivery {a}")), "{out}");
    assert!(out.contains(&m_a), "the message id: {out}");
    assert!(out.contains("in_flight → dead_letter"), "{out}");
    assert!(out.contains("Hendelser / events"), "{out}");
    let o = s.run(&["show", &a, "--json"]);
    assert_exit(&o, 0, "show --json");
    let v = json(&o);
    assert_eq!(v["state"], "dead_letter");
    assert!(v["events"].as_array().is_some_and(|e| e.len() >= 3), "{v}");

    // alerts: the dead letters.
    let o = s.run(&["alerts"]);
    assert_exit(&o, 0, "alerts");
    let out = stdout(&o);
    for id in [&a, &b, &c] {
        assert!(
            out.contains(&format!("dead_letter  delivery {id}")),
            "{out}"
        );
    }
    assert!(out.contains("venter på en person"), "{out}");
    assert!(out.contains("waits for a person"), "{out}");
    let o = s.run(&["alerts", "--limit", "1", "--json"]);
    assert_exit(&o, 0, "alerts --json");
    assert_eq!(json(&o)["items"].as_array().map(Vec::len), Some(1));

    // Not an admin system; a wrong token; no token: exit 2 with the reason.
    let url = s.server.url.clone();
    let o = cli(
        &["deliveries", "list", "--server", &url],
        &[("OVERGANG_TOKEN", DEMO_TOKEN)],
    );
    assert_exit(&o, 2, "a non-admin token");
    let err = stderr(&o);
    assert!(err.contains("systemet er ikke administrator"), "{err}");
    assert!(err.contains("the system is not admin"), "{err}");
    assert!(o.stdout.is_empty());
    let o = cli(
        &["deliveries", "show", &a],
        &[("OVERGANG_TOKEN", "wrong-token"), ("OVERGANG_URL", &url)],
    );
    assert_exit(&o, 2, "a wrong token");
    let err = stderr(&o);
    assert!(err.contains("tokenet ble avvist"), "{err}");
    assert!(err.contains("the token was refused"), "{err}");
    assert!(
        !err.contains("wrong-token"),
        "the token is never printed: {err}"
    );
    let o = cli(&["deliveries", "list", "--server", &url], &[]);
    assert_exit(&o, 2, "no token");
    assert!(stderr(&o).contains("no token"), "{}", stderr(&o));

    // OVERGANG_URL and OVERGANG_TOKEN instead of flags.
    let o = cli(
        &["deliveries", "list", "--limit", "1"],
        &[("OVERGANG_TOKEN", OPS_TOKEN), ("OVERGANG_URL", &url)],
    );
    assert_exit(&o, 0, "list from the environment");
    assert!(
        stdout(&o).contains("--before"),
        "the next page: {}",
        stdout(&o)
    );

    // --token works, with a warning.
    let o = cli(
        &[
            "deliveries",
            "stats",
            "--server",
            &url,
            "--token",
            OPS_TOKEN,
        ],
        &[],
    );
    assert_exit(&o, 0, "--token");
    assert!(stderr(&o).contains("process lists"), "{}", stderr(&o));

    // cancel needs a reason (usage error, nothing sent); with one, a dead
    // letter is cancelled.
    let o = s.run(&["cancel", &c]);
    assert_exit(&o, 2, "cancel without --reason");
    assert!(stderr(&o).contains("--reason"), "{}", stderr(&o));
    let o = s.run(&["cancel", &c, "--reason", "   "]);
    assert_exit(&o, 2, "cancel with an empty --reason");
    let o = s.run(&[
        "cancel",
        &c,
        "--reason",
        "pasienten er allerede utskrevet",
        "--by",
        "ola",
    ]);
    assert_exit(&o, 0, "cancel a dead letter");
    assert!(stdout(&o).contains("cancelled"), "{}", stdout(&o));
    s.wait_for(&m_c, "cancelled").await;

    // The receiver is back: replay one by id …
    s.sim.set_behaviour(&s.http, "ok").await;
    let o = s.run(&[
        "replay",
        &a,
        "--reason",
        "mottakeren er oppe igjen",
        "--by",
        "kari",
    ]);
    assert_exit(&o, 0, "replay ID");
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [a.as_str(), "queued"]),
        "{out}"
    );
    s.wait_for(&m_a, "acknowledged").await;
    let v = json(&s.run(&["show", &a, "--json"]));
    let replayed = v["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["from"] == "dead_letter" && e["to"] == "queued")
        .unwrap_or_else(|| panic!("no replay event: {v}"));
    assert_eq!(replayed["actor"], "user:kari (system:ops)", "{v}");
    assert!(
        replayed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("mottakeren er oppe igjen")),
        "{v}"
    );

    // … and the rest to the receiver at once (the cancelled one is not a
    // dead letter).
    let o = s.run(&[
        "replay",
        "--all-dead-letters",
        "--receiver",
        RECEIVER,
        "--reason",
        "mottakeren er oppe igjen",
        "--json",
    ]);
    assert_exit(&o, 0, "replay --all-dead-letters");
    let v = json(&o);
    let ids: Vec<String> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].to_string())
        .collect();
    assert_eq!(ids, [b.as_str()], "{v}");
    s.wait_for(&m_b, "acknowledged").await;
    let o = s.run(&["replay", "--all-dead-letters", "--reason", "igjen"]);
    assert_exit(&o, 0, "nothing to replay");
    assert!(stdout(&o).contains("no dead letters"), "{}", stdout(&o));

    // Refusals: exit 1 and the reason.
    let o = s.run(&["cancel", &a, "--reason", "for sent"]);
    assert_exit(&o, 1, "cancel an acknowledged delivery");
    let err = stderr(&o);
    assert!(err.contains(&format!("delivery {a}")), "{err}");
    assert!(err.contains("acknowledged"), "{err}");
    assert!(
        err.contains("ikke tillatt") && err.contains("not allowed"),
        "{err}"
    );
    let o = s.run(&["cancel", "999999", "--reason", "finnes ikke"]);
    assert_exit(&o, 1, "cancel an unknown id");
    assert!(
        stderr(&o).contains("no delivery with this id"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["show", "999999"]);
    assert_exit(&o, 1, "show an unknown id");
    let o = s.run(&["replay", &a, "999999", "--reason", "igjen"]);
    assert_exit(&o, 1, "replay an acknowledged and an unknown id");
    let out = stdout(&o);
    assert!(
        out.contains("state acknowledged does not allow it"),
        "{out}"
    );
    assert!(out.contains("no such delivery"), "{out}");
    assert!(out.contains("0 queued again, 2 refused"), "{out}");

    // stats: counts by state.
    let o = s.run(&["stats"]);
    assert_exit(&o, 0, "stats");
    let out = stdout(&o);
    let count = |state: &str| -> i64 {
        out.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&state))
            .and_then(|w| w.last()?.parse().ok())
            .unwrap_or_else(|| panic!("no count for {state}:\n{out}"))
    };
    assert_eq!(count("acknowledged"), 2, "{out}");
    assert_eq!(count("cancelled"), 1, "{out}");
    assert_eq!(count("dead_letter"), 0, "{out}");
    assert!(out.contains("arrival to AppRec (ms): p50"), "{out}");
    let o = s.run(&["stats", "--since", "2000-01-01T00:00:00Z", "--json"]);
    assert_exit(&o, 0, "stats --json");
    let v = json(&o);
    assert_eq!(v["by_state"]["acknowledged"], 2, "{v}");
    assert!(v["answered"].as_i64().is_some_and(|n| n >= 2), "{v}");
    let o = s.run(&["stats", "--since", "yesterday"]);
    assert_exit(&o, 2, "stats with a bad --since");
    assert!(stderr(&o).contains("'since'"), "{}", stderr(&o));

    // What the CLI prints is what the API returns: no national id or name
    // of the messages' patients anywhere.
    let secrets = patient_secrets(&EXAMPLES);
    assert!(!secrets.is_empty(), "the examples name patients");
    let mut seen = String::new();
    for args in [
        vec!["list", "--limit", "1000"],
        vec!["list", "--json", "--limit", "1000"],
        vec!["show", &a],
        vec!["show", &b, "--json"],
        vec!["show", &c],
        vec!["alerts"],
        vec!["stats"],
    ] {
        let o = s.run(&args);
        assert_exit(&o, 0, &args.join(" "));
        seen.push_str(&stdout(&o));
        seen.push_str(&stderr(&o));
    }
    assert!(json(&s.run(&["list", "--json"]))["items"]
        .as_array()
        .is_some_and(|i| i.len() >= 3));
    for secret in &secrets {
        assert!(
            !seen.contains(secret.as_str()),
            "patient data in the CLI's output"
        );
    }
}

#[test]
fn usage_and_connection_errors_exit_2_before_anything_is_sent() {
    // An id or --all-dead-letters is needed; both is refused.
    let o = cli(
        &["deliveries", "replay", "--reason", "x"],
        &[("OVERGANG_TOKEN", OPS_TOKEN)],
    );
    assert_exit(&o, 2, "replay without ids");
    assert!(stderr(&o).contains("--all-dead-letters"), "{}", stderr(&o));
    let o = cli(
        &[
            "deliveries",
            "replay",
            "1",
            "--all-dead-letters",
            "--reason",
            "x",
        ],
        &[("OVERGANG_TOKEN", OPS_TOKEN)],
    );
    assert_exit(&o, 2, "ids and --all-dead-letters");
    // A state the API does not know.
    let o = cli(
        &["deliveries", "list", "--state", "lost"],
        &[("OVERGANG_TOKEN", OPS_TOKEN)],
    );
    assert_exit(&o, 2, "an unknown state");
    // Plain http beyond loopback would send the token in clear.
    let o = cli(
        &["deliveries", "list", "--server", "http://gateway.example"],
        &[("OVERGANG_TOKEN", OPS_TOKEN)],
    );
    assert_exit(&o, 2, "plain http beyond loopback");
    assert!(stderr(&o).contains("use https"), "{}", stderr(&o));
    // Nobody listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let o = cli(
        &["deliveries", "stats"],
        &[
            ("OVERGANG_TOKEN", OPS_TOKEN),
            ("OVERGANG_URL", &format!("http://127.0.0.1:{port}")),
        ],
    );
    assert_exit(&o, 2, "no gateway");
    let err = stderr(&o);
    assert!(
        err.contains("kunne ikke koble til") && err.contains("could not connect"),
        "{err}"
    );
    // A token file that is missing or empty.
    let tmp = TempDir::new("cli-deliveries-usage");
    let empty = tmp.path().join("empty.token");
    std::fs::write(&empty, "\n").expect("write");
    let o = cli(
        &[
            "deliveries",
            "list",
            "--token-file",
            &empty.to_string_lossy(),
        ],
        &[],
    );
    assert_exit(&o, 2, "an empty token file");
    assert!(stderr(&o).contains("no token"), "{}", stderr(&o));
    // A CA file that is not PEM.
    let o = cli(
        &[
            "deliveries",
            "list",
            "--server",
            "https://127.0.0.1:1",
            "--ca",
            &empty.to_string_lossy(),
        ],
        &[("OVERGANG_TOKEN", OPS_TOKEN)],
    );
    assert_exit(&o, 2, "a CA file without certificates");
    assert!(stderr(&o).contains("--ca"), "{}", stderr(&o));
}

#[test]
fn https_with_a_private_ca_needs_ca() {
    let tmp = TempDir::new("cli-deliveries-tls");
    let d = tmp.path();
    support::certs::make_certificates(d);
    let extra = format!(
        "[[systems]]\nname = \"ops\"\ntoken_hash = \"{}\"\nadmin = true\n\n\
         [tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[delivery]\nenabled = false\n",
        OPS_TOKEN_HASH.trim(),
        d.join("server.pem").display(),
        d.join("server-key.pem").display(),
    );
    let config = support::server::test_config(d, &extra);
    let server = Server::start(&config, &[], &d.join("server.log"));
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = d.join("ca.pem").to_string_lossy().into_owned();
    let env = [
        ("OVERGANG_TOKEN", OPS_TOKEN),
        ("OVERGANG_URL", server.url.as_str()),
    ];

    let o = cli(&["deliveries", "stats", "--ca", &ca, "--json"], &env);
    assert_exit(&o, 0, "https with --ca");
    assert!(json(&o)["by_state"].is_object());

    // Without the CA the certificate is not trusted: a connection error.
    let o = cli(&["deliveries", "stats"], &env);
    assert_exit(&o, 2, "https without --ca");
    let err = stderr(&o);
    assert!(
        err.contains("could not connect") || err.contains("connection failed"),
        "{err}"
    );
    assert!(
        !err.contains(OPS_TOKEN),
        "the token is never printed: {err}"
    );
}
