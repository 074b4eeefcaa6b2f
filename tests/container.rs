//! The container files (`docker/`), checked without a container engine:
//! the commands the image runs are run here, on the built binary, with the
//! files the image and the compose file give them.
//!
//! - the Dockerfile's runtime stage: a slim Debian base with CA certificates
//!   only, a fixed non-root uid, the data volume where the image's
//!   configuration keeps the store, `EXPOSE` on its port, and the same
//!   stage in `docker/Dockerfile.local` (binaries built outside the image);
//! - the image's `CMD` with `--check`, and then as it is, on the image's
//!   configuration (TLS files and registry given as the README says); its
//!   `HEALTHCHECK` answers 0 while the gateway runs, 1 after it stopped, and
//!   over TLS trusts exactly the configured certificate (one for another
//!   name still passes; another certificate does not);
//! - `docker/compose.yaml` parses as YAML and agrees with the Dockerfile and
//!   the demo registry: services, build, commands, mounts, volumes, ports,
//!   node ids, health checks, the PostgreSQL URL;
//! - the compose gateways' configuration, with the compose environment,
//!   passes `serve --check`, starts, answers its health check, and routes
//!   the demo EHR's example message to the simulated hospital system, run
//!   with the compose file's own receiver command (ports moved to free ones).
//!
//! The compose gateways run on PostgreSQL as compose configures them; only
//! the database URL is the test's own (`tests/support/pg.rs`).

mod support {
    pub mod certs;
    pub mod corpus;
    pub mod pg;
    pub mod server;
    pub mod tempdir;
    pub mod wait;
}

use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use support::corpus::repo;
use support::pg::Db;
use support::server::{client, fresh, signal, TempDir, DEMO_TOKEN, TEST_PATIENT_KEY};

// --- reading the files ------------------------------------------------------

/// One Dockerfile instruction: its keyword (upper case) and the rest.
#[derive(Clone, Debug, PartialEq)]
struct Instr {
    kw: String,
    args: String,
}

/// The instructions of a Dockerfile: comments and blank lines dropped,
/// continuation lines joined.
fn instructions(path: &Path) -> Vec<Instr> {
    let text = std::fs::read_to_string(path).expect("read Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let joined = std::mem::take(&mut current);
        let (kw, args) = joined.split_once(' ').unwrap_or((&joined, ""));
        out.push(Instr {
            kw: kw.to_ascii_uppercase(),
            args: args.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    out
}

/// The instructions of the stage named `name`, its FROM first.
fn stage(instrs: &[Instr], name: &str) -> Vec<Instr> {
    let suffix = format!(" AS {name}");
    let start = instrs
        .iter()
        .position(|i| i.kw == "FROM" && i.args.ends_with(&suffix))
        .unwrap_or_else(|| panic!("no stage {name}"));
    let mut s = vec![instrs[start].clone()];
    s.extend(
        instrs[start + 1..]
            .iter()
            .take_while(|i| i.kw != "FROM")
            .cloned(),
    );
    s
}

fn only<'a>(stage: &'a [Instr], kw: &str) -> &'a str {
    let found: Vec<&Instr> = stage.iter().filter(|i| i.kw == kw).collect();
    assert_eq!(found.len(), 1, "one {kw} in the stage: {found:?}");
    &found[0].args
}

fn json_array(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not a JSON array: {s} ({e})"))
}

/// A `HEALTHCHECK [OPTIONS] CMD [...]`'s command.
fn healthcheck_command(stage: &[Instr]) -> Vec<String> {
    let args = only(stage, "HEALTHCHECK");
    let (_, cmd) = args
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {args}"));
    json_array(cmd)
}

/// The default of `ARG name=default` before the first stage.
fn arg_default(instrs: &[Instr], name: &str) -> String {
    instrs
        .iter()
        .take_while(|i| i.kw != "FROM")
        .filter(|i| i.kw == "ARG")
        .find_map(|i| i.args.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no ARG {name}=…"))
}

fn dockerfile() -> Vec<Instr> {
    instructions(&repo().join("docker/Dockerfile"))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(repo().join("docker/compose.yaml")).expect("compose");
    let mut v: Value = serde_norway::from_str(&text).expect("compose.yaml is YAML");
    v.apply_merge().expect("YAML merge keys");
    v
}

fn service<'a>(c: &'a Value, name: &str) -> &'a Value {
    c.get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| panic!("not a string: {x:?}"))
                .to_owned()
        })
        .collect()
}

fn env_of(svc: &Value) -> BTreeMap<String, String> {
    svc.get("environment")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .expect("value")
                            .trim()
                            .to_owned(),
                    };
                    (k.as_str().expect("key").to_owned(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `source:target[:ro]` of a service's volumes: (source, target).
fn volumes_of(svc: &Value) -> Vec<(String, String)> {
    strings(svc.get("volumes").expect("volumes"))
        .into_iter()
        .map(|v| {
            let mut parts = v.split(':');
            let s = parts.next().expect("source").to_owned();
            let t = parts.next().expect("target").to_owned();
            (s, t)
        })
        .collect()
}

fn healthcheck_test(svc: &Value) -> Vec<String> {
    strings(
        svc.get("healthcheck")
            .and_then(|h| h.get("test"))
            .expect("healthcheck.test"),
    )
}

fn toml_file(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).expect("read TOML")).expect("TOML")
}

/// The `host:port` of every endpoint and callback in a registry file.
fn registry_addresses(path: &Path) -> BTreeSet<String> {
    let t = toml_file(path);
    let mut out = BTreeSet::new();
    for p in t["party"].as_array().expect("[[party]]") {
        for key in ["endpoint", "callback"] {
            if let Some(url) = p.get(key).and_then(|v| v.as_str()) {
                let rest = url.strip_prefix("http://").expect("http://");
                out.insert(rest.split('/').next().expect("host:port").to_owned());
            }
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

// --- running the image's commands ----------------------------------------

/// `overgang ARGS` (the first of `cmd` must be `overgang`) with `env`.
fn overgang(cmd: &[String], env: &BTreeMap<String, String>) -> Command {
    assert_eq!(cmd.first().map(String::as_str), Some("overgang"), "{cmd:?}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_overgang"));
    c.args(&cmd[1..]).envs(env).stdin(Stdio::null());
    c
}

fn run(cmd: &[String], env: &BTreeMap<String, String>) -> Output {
    overgang(cmd, env).output().expect("run overgang")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts a long-running `overgang` command and waits for its first line.
fn start(cmd: &[String], env: &BTreeMap<String, String>, log: &Path) -> (Child, String) {
    let logfile = std::fs::File::create(log).expect("log");
    let mut child = overgang(cmd, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(logfile))
        .spawn()
        .expect("start overgang");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        let _ = child.wait();
        panic!(
            "{cmd:?} did not start; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, line.trim().to_owned())
}

fn stop(mut child: Child) {
    signal(child.id() as i32, "TERM");
    for _ in 0..200 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("overgang did not stop within 10 s after SIGTERM");
}

/// Replaces every `from` by `to` in each argument.
fn mapped(cmd: &[String], map: &[(String, String)]) -> Vec<String> {
    cmd.iter()
        .map(|a| {
            map.iter()
                .fold(a.clone(), |a, (from, to)| a.replace(from.as_str(), to))
        })
        .collect()
}

// --- the Dockerfile ------------------------------------------------------------

#[test]
fn the_runtime_stage_is_slim_non_root_and_the_local_build_uses_the_same_stage() {
    let all = dockerfile();
    let rust = arg_default(&all, "RUST_IMAGE");
    assert!(
        rust.starts_with("rust:") && rust.ends_with("-bookworm"),
        "{rust}"
    );
    assert_eq!(arg_default(&all, "RUNTIME_IMAGE"), "debian:bookworm-slim");
    let build = stage(&all, "build");
    assert_eq!(build[0].args, "${RUST_IMAGE} AS build");
    let builds: Vec<&Instr> = build
        .iter()
        .filter(|i| i.kw == "RUN" && i.args.contains("cargo build"))
        .collect();
    assert_eq!(builds.len(), 2, "dependencies first, then the workspace");
    for b in builds {
        assert!(
            b.args
                .contains("cargo build --release --locked -p overgang -p overgang-load"),
            "{b:?}"
        );
    }

    let runtime = stage(&all, "runtime");
    assert_eq!(runtime[0].args, "${RUNTIME_IMAGE} AS runtime");
    // Only CA certificates on top of the base.
    let installs: Vec<&Instr> = runtime
        .iter()
        .filter(|i| i.args.contains("apt-get install"))
        .collect();
    assert_eq!(installs.len(), 1);
    let packages: Vec<&str> = installs[0]
        .args
        .split("apt-get install")
        .nth(1)
        .and_then(|s| s.split("&&").next())
        .expect("packages")
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert_eq!(packages, ["ca-certificates"]);

    // A fixed, non-root uid and gid, the user the image's useradd makes.
    let user = only(&runtime, "USER");
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    let uid: u32 = uid.parse().expect("numeric uid");
    let gid: u32 = gid.parse().expect("numeric gid");
    assert!(uid >= 1000 && gid >= 1000, "{user}");
    assert!(runtime.iter().any(|i| i.kw == "RUN"
        && i.args.contains(&format!("useradd --uid {uid} --gid {gid}"))
        && i.args
            .contains(&format!("chown {uid}:{gid} /var/lib/overgang"))));

    // The image's configuration: where it is copied, what CMD reads, where
    // it keeps the store, which port it listens on.
    let copies: Vec<&Instr> = runtime.iter().filter(|i| i.kw == "COPY").collect();
    let config_path = copy_target(&runtime, "docker/overgang.toml");
    assert_eq!(json_array(only(&runtime, "ENTRYPOINT")), ["overgang"]);
    let cmd = json_array(only(&runtime, "CMD"));
    assert_eq!(cmd, ["serve", "--config", config_path.as_str()]);
    assert_eq!(
        healthcheck_command(&runtime),
        ["overgang", "healthcheck", "--config", config_path.as_str()]
    );
    let config = toml_file(&repo().join("docker/overgang.toml"));
    let volume = json_array(only(&runtime, "VOLUME"));
    assert_eq!(
        volume,
        [config["store"]["data"].as_str().expect("store.data")]
    );
    assert_eq!(only(&runtime, "WORKDIR"), volume[0]);
    let listen: std::net::SocketAddr = config["server"]["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("an address");
    assert!(
        listen.ip().is_unspecified(),
        "the image listens on every address"
    );
    assert!(config.contains_key("tls"), "beyond loopback, TLS");
    assert_eq!(only(&runtime, "EXPOSE"), listen.port().to_string());
    // What the stage copies from the context is there, and not ignored.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["target/", ".git", "fuzz/"] {
        assert!(ignored.contains(&needed), ".dockerignore lacks {needed}");
    }
    for c in &copies {
        if c.args.starts_with("--from=") {
            continue;
        }
        let sources: Vec<&str> = c.args.split_whitespace().collect();
        for s in &sources[..sources.len() - 1] {
            assert!(repo().join(s).exists(), "COPY {s}: not in the repository");
            let top = s.split('/').next().unwrap_or(s);
            assert!(
                !ignored
                    .iter()
                    .any(|i| i.trim_end_matches('/') == top || i.trim_end_matches('/') == *s),
                "COPY {s} is in .dockerignore"
            );
        }
    }

    // docker/Dockerfile.local: the same runtime stage, the binaries from
    // the context.
    let local_all = instructions(&repo().join("docker/Dockerfile.local"));
    assert_eq!(
        arg_default(&local_all, "RUNTIME_IMAGE"),
        "debian:bookworm-slim"
    );
    let local = stage(&local_all, "runtime");
    assert_eq!(local.len(), runtime.len(), "{local:#?}");
    for (a, b) in runtime.iter().zip(&local) {
        if a.kw == "COPY" && a.args.starts_with("--from=build ") {
            assert_eq!(b.kw, "COPY");
            let names = |s: &str| -> Vec<String> {
                s.split_whitespace()
                    .map(|w| w.rsplit('/').next().unwrap_or(w).to_owned())
                    .collect()
            };
            assert_eq!(
                names(a.args.trim_start_matches("--from=build ")),
                names(&b.args),
                "the same binaries to the same place"
            );
        } else {
            assert_eq!(a, b, "Dockerfile.local's runtime stage differs");
        }
    }
}

#[test]
fn the_image_command_checks_and_serves_its_configuration_and_the_healthcheck_trusts_its_certificate(
) {
    let runtime = stage(&dockerfile(), "runtime");
    let mut cmd = vec!["overgang".to_owned()];
    cmd.extend(json_array(only(&runtime, "CMD")));
    let health = healthcheck_command(&runtime);
    // The image's paths are this repository's files here.
    let config_in_image = cmd[3].clone();
    let map = vec![(
        config_in_image,
        repo().join("docker/overgang.toml").display().to_string(),
    )];
    let cmd = mapped(&cmd, &map);
    let health = mapped(&health, &map);

    let dir = TempDir::new("container-image");
    let d = dir.path();
    support::certs::make_certificates(d);
    // A certificate for the gateway's public name only: the health check
    // asks 127.0.0.1 and must trust it all the same.
    support::certs::issue(
        d,
        "/CN=gateway.example.no",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:gateway.example.no\n",
        "public-key.pem",
        "public.pem",
    );
    let port = free_port();
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("OVERGANG_SERVER__LISTEN", format!("127.0.0.1:{port}")),
        (
            "OVERGANG_REGISTRY__FILE",
            repo().join("docker/registry.toml").display().to_string(),
        ),
        ("OVERGANG_STORE__DATA", d.join("data").display().to_string()),
        (
            "OVERGANG_SECURITY__PATIENT_KEY",
            TEST_PATIENT_KEY.to_owned(),
        ),
    ] {
        env.insert(k.to_owned(), v);
    }

    // Without the TLS files the README says to mount, the check names them.
    let mut check = cmd.clone();
    check.push("--check".into());
    let o = run(&check, &env);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("/etc/overgang/tls/server.crt.pem"),
        "{}",
        text(&o)
    );

    env.insert(
        "OVERGANG_TLS__CERT".into(),
        d.join("public.pem").display().to_string(),
    );
    env.insert(
        "OVERGANG_TLS__KEY".into(),
        d.join("public-key.pem").display().to_string(),
    );
    let o = run(&check, &env);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(": OK (listen https://127.0.0.1:{port}, 4 parties")),
        "{}",
        text(&o)
    );
    // A registry the gateway could not load fails the check, with its file.
    let broken = d.join("broken-registry.toml");
    std::fs::write(&broken, "[[party]]\nher = \"990001\"\n").expect("write");
    let mut bad = env.clone();
    bad.insert(
        "OVERGANG_REGISTRY__FILE".into(),
        broken.display().to_string(),
    );
    let o = run(&check, &bad);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("broken-registry.toml"), "{}", text(&o));
    assert!(!text(&o).contains(": OK"), "{}", text(&o));

    // Before the gateway runs, the health check fails.
    let o = run(&health, &env);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let (child, first) = start(&cmd, &env, &d.join("gateway.log"));
    assert_eq!(
        first,
        format!("overgang: listening on https://127.0.0.1:{port}")
    );
    let o = run(&health, &env);
    assert!(o.status.success(), "healthcheck: {}", text(&o));
    assert!(text(&o).contains("/healthz: 200"), "{}", text(&o));

    // Another certificate, even one from the same CA for 127.0.0.1, is not
    // the one the gateway serves: refused.
    let mut other = env.clone();
    other.insert(
        "OVERGANG_TLS__CERT".into(),
        d.join("server.pem").display().to_string(),
    );
    let o = run(&health, &other);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // With --ca instead, the name is checked: the public certificate has no
    // 127.0.0.1, so that fails too; the URL form with a CA-signed
    // certificate for 127.0.0.1 is covered by the gateway's own TLS tests.
    let mut with_ca = health.clone();
    with_ca.extend(["--ca".into(), d.join("ca.pem").display().to_string()]);
    let o = run(&with_ca, &env);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    stop(child);
    let o = run(&health, &env);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

// --- the compose file ----------------------------------------------------

const IMAGE_SERVICES: [&str; 6] = [
    "pod",
    "receiver-kommune",
    "receiver-sykehus",
    "gateway-1",
    "gateway-2",
    "demo-ehr",
];
const GATEWAYS: [&str; 2] = ["gateway-1", "gateway-2"];
const RECEIVERS: [&str; 2] = ["receiver-kommune", "receiver-sykehus"];

#[test]
fn the_compose_file_agrees_with_the_dockerfile_and_the_demo_registry() {
    let c = compose();
    let names: BTreeSet<&str> = c["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .map(|k| k.as_str().expect("name"))
        .collect();
    let mut expected: BTreeSet<&str> = IMAGE_SERVICES.into_iter().collect();
    expected.insert("postgres");
    assert_eq!(names, expected);

    let runtime = stage(&dockerfile(), "runtime");
    let cmd = json_array(only(&runtime, "CMD"));
    let health = healthcheck_command(&runtime);
    let volume = json_array(only(&runtime, "VOLUME"));

    for name in IMAGE_SERVICES {
        let s = service(&c, name);
        assert_eq!(s["image"].as_str(), Some("overgang:local"), "{name}");
        assert_eq!(s["build"]["context"].as_str(), Some(".."), "{name}");
        assert_eq!(
            s["build"]["dockerfile"].as_str(),
            Some("docker/Dockerfile"),
            "{name}"
        );
        if name != "pod" {
            assert_eq!(
                s["network_mode"].as_str(),
                Some("service:pod"),
                "{name} joins the pod's network namespace"
            );
        }
    }

    // PostgreSQL: a health check, a volume, and the URL the gateways use.
    let pg = service(&c, "postgres");
    assert!(pg["image"]
        .as_str()
        .is_some_and(|i| i.starts_with("postgres:15")));
    let pg_test = healthcheck_test(pg);
    assert_eq!(pg_test[..2], ["CMD", "pg_isready"]);
    assert!(volumes_of(pg)
        .iter()
        .any(|(_, t)| t == "/var/lib/postgresql/data"));
    let pg_env = env_of(pg);
    let url = format!(
        "postgres://{}:{}@postgres:5432/{}",
        pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"]
    );

    // The gateways: the image's command and health check, its
    // configuration mounted where the command reads it, its volume, one
    // database, and each its own port and node id.
    let mut ports = BTreeSet::new();
    let mut nodes = BTreeSet::new();
    let mut urls = Vec::new();
    for name in GATEWAYS {
        let g = service(&c, name);
        assert_eq!(strings(&g["command"]), cmd, "{name}");
        let test = healthcheck_test(g);
        assert_eq!(test[0], "CMD");
        assert_eq!(test[1..], health[..], "{name}: the image's HEALTHCHECK");
        let vols = volumes_of(g);
        assert!(
            vols.iter()
                .any(|(s, t)| s == "./gateway.toml" && *t == cmd[2]),
            "{name}: {vols:?}"
        );
        assert!(vols
            .iter()
            .any(|(s, t)| s == "./registry.toml" && t == "/etc/overgang/registry.toml"));
        assert!(vols.iter().any(|(_, t)| *t == volume[0]), "{name}");
        for (s, _) in &vols {
            if s.starts_with("./") {
                assert!(repo().join("docker").join(s).is_file(), "{s}");
            }
        }
        assert_eq!(
            g["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy")
        );
        let env = env_of(g);
        assert_eq!(env["OVERGANG_STORE__KIND"], "postgres");
        assert_eq!(env["OVERGANG_STORE__URL"], url, "{name}");
        let listen: std::net::SocketAddr = env["OVERGANG_SERVER__LISTEN"].parse().expect("listen");
        assert!(listen.ip().is_loopback(), "plain HTTP on loopback only");
        assert!(ports.insert(listen.port()), "{name}: port taken");
        assert!(nodes.insert(env["OVERGANG_STORE__NODE_ID"].clone()));
        urls.push(format!("http://{listen}"));
    }
    // The registry file the gateways mount is the one their configuration
    // names.
    let gw = toml_file(&repo().join("docker/gateway.toml"));
    assert_eq!(gw["registry"]["file"].as_str(), Some("registry.toml"));

    // The receivers listen where the registry delivers, and their health
    // checks ask them there.
    let mut listening = BTreeSet::new();
    for name in RECEIVERS {
        let r = service(&c, name);
        let command = strings(&r["command"]);
        assert_eq!(command[..2], ["simulate", "receiver"]);
        let at = command
            .iter()
            .position(|a| a == "--listen")
            .expect("--listen");
        let addr = command[at + 1].clone();
        let test = healthcheck_test(r);
        assert_eq!(test[..3], ["CMD", "overgang", "healthcheck"]);
        assert!(
            test.iter()
                .any(|a| a.starts_with(&format!("http://{addr}/"))),
            "{name}: {test:?}"
        );
        listening.insert(addr);
        assert_eq!(
            service(&c, "gateway-1")["depends_on"][name]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert_eq!(
        listening,
        registry_addresses(&repo().join("docker/registry.toml"))
    );

    // The demo EHR posts the image's example folder to every gateway, as a
    // system the gateways know.
    let ehr = service(&c, "demo-ehr");
    let script = strings(&ehr["command"]).join(" ");
    let examples = copy_target(&runtime, "schemas/examples/");
    for u in &urls {
        assert!(
            script.contains(&format!("overgang-load --url {u} --token {DEMO_TOKEN} ")),
            "{script}"
        );
    }
    assert!(script.contains(&examples), "{script}");
    // docker/verify-podman.sh runs the same command.
    let verify =
        std::fs::read_to_string(repo().join("docker/verify-podman.sh")).expect("verify-podman.sh");
    assert!(
        verify.contains(&format!("'{script}'")),
        "verify-podman.sh runs another demo EHR command"
    );
    for name in GATEWAYS {
        assert_eq!(
            ehr["depends_on"][name]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert!(gw["systems"]
        .as_array()
        .expect("systems")
        .iter()
        .any(|s| s["name"].as_str() == Some("demo-ehr")));
}

/// Where the stage copies `source` (from the context) to.
fn copy_target(stage: &[Instr], source: &str) -> String {
    stage
        .iter()
        .filter(|i| i.kw == "COPY")
        .find_map(|i| {
            i.args
                .strip_prefix(&format!("{source} "))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no COPY {source}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_gateway_starts_and_routes_the_demo_message_to_the_simulated_hospital() {
    let c = compose();
    let dir = TempDir::new("container-compose");
    let d = dir.path();

    // The receivers, with the compose file's own commands on free ports.
    let mut moved: Vec<(String, String)> = Vec::new();
    let mut receivers = Vec::new();
    for name in RECEIVERS {
        let r = service(&c, name);
        let mut command = vec!["overgang".to_owned()];
        command.extend(strings(&r["command"]));
        let at = command
            .iter()
            .position(|a| a == "--listen")
            .expect("--listen");
        let fixed = command[at + 1].clone();
        command[at + 1] = "127.0.0.1:0".into();
        let (child, first) = start(&command, &BTreeMap::new(), &d.join(format!("{name}.log")));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        let actual = url.trim_start_matches("http://").to_owned();
        let test = mapped(
            &healthcheck_test(r)[1..],
            &[(fixed.clone(), actual.clone())],
        );
        let o = run(&test, &BTreeMap::new());
        assert!(o.status.success(), "{name}'s health check: {}", text(&o));
        moved.push((fixed, actual));
        receivers.push((name, url, child));
    }

    // The gateway's files as compose mounts them, the registry pointing
    // at the receivers' ports.
    let registry = std::fs::read_to_string(repo().join("docker/registry.toml")).expect("registry");
    let registry = moved
        .iter()
        .fold(registry, |t, (from, to)| t.replace(from.as_str(), to));
    std::fs::write(d.join("registry.toml"), registry).expect("write registry");
    std::fs::copy(repo().join("docker/gateway.toml"), d.join("gateway.toml")).expect("copy");
    let g = service(&c, "gateway-1");
    let mut map: Vec<(String, String)> = Vec::new();
    for (source, target) in volumes_of(g) {
        let here = match source.strip_prefix("./") {
            Some(file) => d.join(file),
            None => d.join("data"),
        };
        map.push((target, here.display().to_string()));
    }
    let mut command = vec!["overgang".to_owned()];
    command.extend(strings(&g["command"]));
    let command = mapped(&command, &map);
    let health = mapped(&healthcheck_test(g)[1..], &map);
    let port = free_port();
    let mut env = env_of(g);
    env.insert(
        "OVERGANG_SERVER__LISTEN".into(),
        format!("127.0.0.1:{port}"),
    );
    env.insert(
        "OVERGANG_STORE__DATA".into(),
        d.join("data").display().to_string(),
    );

    // The store is the compose file's PostgreSQL, kind and node id as
    // compose sets them; only the URL points at a database of the test's
    // own (the compose host `postgres` does not resolve here).
    assert_eq!(env["OVERGANG_STORE__KIND"], "postgres");
    let db = Db::new();
    env.insert("OVERGANG_STORE__URL".into(), db.url());
    let mut check = command.clone();
    check.push("--check".into());
    let o = run(&check, &env);
    assert!(o.status.success(), "{}", text(&o));

    let (gateway, first) = start(&command, &env, &d.join("gateway.log"));
    assert_eq!(
        first,
        format!("overgang: listening on http://127.0.0.1:{port}")
    );
    let o = run(&health, &env);
    assert!(
        o.status.success(),
        "the gateway's health check: {}",
        text(&o)
    );

    // The demo EHR's message, as it posts it: Overgang's own example with
    // a fresh MsgId, as demo-ehr.
    let example =
        std::fs::read(repo().join("schemas/examples/innleggelsesrapport-med-funksjonsprofil.xml"))
            .expect("example");
    let (msg_id, bytes) = fresh(&example);
    let http = client();
    let (status, answer) =
        support::server::post_message(&http, &format!("http://127.0.0.1:{port}"), bytes).await;
    assert_eq!(status.as_u16(), 201, "{answer}");
    let hospital = receivers
        .iter()
        .find(|(n, _, _)| *n == "receiver-sykehus")
        .map(|(_, u, _)| u.clone())
        .expect("hospital");
    support::wait::eventually(
        "the hospital's system to get the admission report",
        Duration::from_secs(20),
        || {
            let http = http.clone();
            let hospital = hospital.clone();
            let msg_id = msg_id.clone();
            async move {
                let got: serde_json::Value = http
                    .get(format!("{hospital}/_sim/received"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                if got.to_string().contains(&msg_id) {
                    Ok(())
                } else {
                    Err(got.to_string())
                }
            }
        },
    )
    .await;

    stop(gateway);
    for (_, _, child) in receivers {
        stop(child);
    }
}
