//! End-to-end tests of the `overgang` binary's command line: what an EHR
//! vendor's CI and a person at a terminal see.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_overgang"))
}

fn standards() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/standards");
    assert!(
        p.join("examples/plo-1.6").is_dir(),
        "../shared/standards must be beside the project (looked in {})",
        p.display()
    );
    p
}

fn examples() -> PathBuf {
    standards().join("examples/plo-1.6")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("overgang-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn overgang");
    let mut stdin = child.stdin.take().expect("stdin");
    // The binary may refuse early (too large) and close its end: ignore EPIPE.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `overgang validate --format json PATH`, which must exit 0 (nothing
/// rejected); returns the parsed output.
fn validate_json_ok(path: &Path) -> Value {
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    json(&out)
}

#[test]
fn all_official_examples_are_accepted() {
    let v = validate_json_ok(&examples());
    let files = v.as_array().expect("array");
    assert_eq!(files.len(), 22);
    for f in files {
        // Accepted: completeness rules may warn about real gaps (reviewed in
        // docs/RULES.md), but nothing in the official examples is an error.
        assert!(
            f["verdict"] == "accepted" || f["verdict"] == "accepted_with_warnings",
            "{f}"
        );
        for finding in f["findings"].as_array().expect("findings") {
            assert_ne!(finding["severity"], "error", "{f}");
        }
        assert!(f["msg_id"].is_string(), "{f}");
        assert!(f["msg_type"].is_string(), "{f}");
        for k in [
            "file", "msg_id", "msg_type", "standard", "verdict", "findings",
        ] {
            assert!(f.get(k).is_some(), "missing {k} in {f}");
        }
    }
}

/// Our example with the Funksjonsprofil extension (docs/EXTENSION.md) is
/// accepted with no findings, and answered with an OK AppRec.
#[test]
fn the_extension_example_is_accepted_with_no_findings() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas/examples/innleggelsesrapport-med-funksjonsprofil.xml");
    let v = validate_json_ok(&example);
    let f = &v[0];
    assert_eq!(f["verdict"], "accepted", "{f}");
    assert_eq!(f["findings"].as_array().map(Vec::len), Some(0), "{f}");
    assert_eq!(f["msg_type"], "INNLEGGELSESRAPPORT", "{f}");
    assert_eq!(f["standard"], "PLO Innleggelsesrapport v1.6", "{f}");
    let out = bin().arg("apprec").arg(&example).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("<Status V=\"1\""), "{xml}");
    assert!(!xml.contains("<Error"), "{xml}");
}

#[test]
fn text_output_is_for_people_in_both_languages() {
    let bad = b"<?xml version=\"1.0\"?>\n<MsgHead>\n  <MsgInfo></MsgHead>";
    let nb = run_stdin(&["validate", "-"], bad);
    assert_eq!(nb.status.code(), Some(1));
    let text = String::from_utf8_lossy(&nb.stdout);
    assert!(text.contains("avvist"), "{text}");
    assert!(
        text.contains("3:12"),
        "position line:column expected: {text}"
    );
    assert!(
        !text.contains("\x1b["),
        "no colour when not on a terminal: {text}"
    );
    let en = run_stdin(&["validate", "--lang", "en", "-"], bad);
    let text = String::from_utf8_lossy(&en.stdout);
    assert!(text.contains("rejected"), "{text}");
    assert!(text.contains("does not match"), "{text}");
    let coloured = run_stdin(&["validate", "--color", "always", "-"], bad);
    assert!(String::from_utf8_lossy(&coloured.stdout).contains("\x1b[1;31m"));
}

#[test]
fn several_files_end_with_a_summary() {
    let out = bin().arg("validate").arg(examples()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("22 filer: "), "{text}");
    assert!(text.contains(", 0 avvist"), "{text}");
}

#[test]
fn exit_status_is_two_for_io_and_usage_errors() {
    let out = bin()
        .args(["validate", "/nonexistent/overgang.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/overgang.xml"));
    let out = bin().args(["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["validate", "--format", "yaml", "x.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Each hostile input is refused with a clear wellformedness finding mapped
/// to AppRec T01, exit status 1, and never a panic.
#[test]
fn hostile_input_is_refused_with_a_clear_finding() {
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    laughs.push_str("]><lolz>&lol9;</lolz>");
    let mut latin1_as_utf8 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>".to_vec();
    latin1_as_utf8.extend_from_slice(&[0xD8, 0x79]);
    latin1_as_utf8.extend_from_slice(b"</a>");
    let bad_latin1_decl = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\x01</a>".to_vec();
    let deep = "<a>".repeat(5000) + &"</a>".repeat(5000);
    let cases: Vec<(&str, Vec<u8>, &str, Vec<&str>)> = vec![
        (
            "dtd",
            b"<!DOCTYPE MsgHead SYSTEM \"file:///etc/passwd\"><MsgHead/>".to_vec(),
            "XML004",
            vec![],
        ),
        ("billion laughs", laughs.into_bytes(), "XML004", vec![]),
        (
            "external entity",
            b"<a>&xxe;</a>".to_vec(),
            "XML009",
            vec![],
        ),
        (
            "too large",
            vec![b' '; 2048],
            "XML002",
            vec!["--max-bytes", "1024"],
        ),
        ("too deep", deep.into_bytes(), "XML003", vec![]),
        ("invalid utf-8", latin1_as_utf8, "XML006", vec![]),
        ("illegal char", bad_latin1_decl, "XML007", vec![]),
        ("empty", Vec::new(), "XML001", vec![]),
        ("whitespace only", b"  \n ".to_vec(), "XML001", vec![]),
        (
            "json",
            b"{\"resourceType\": \"Bundle\"}".to_vec(),
            "XML008",
            vec![],
        ),
        (
            "binary",
            vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13],
            "XML008",
            vec![],
        ),
        (
            "utf-16",
            vec![0xFF, 0xFE, b'<', 0, b'a', 0, b'/', 0, b'>', 0],
            "XML005",
            vec![],
        ),
    ];
    for (name, input, code, extra) in cases {
        let mut args = vec!["validate", "--format", "json"];
        args.extend(extra);
        args.push("-");
        let out = run_stdin(&args, &input);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        let f = &v[0]["findings"][0];
        assert_eq!(f["code"], code, "{name}: {f}");
        assert_eq!(f["category"], "wellformedness", "{name}");
        assert_eq!(f["severity"], "error", "{name}");
        assert_eq!(f["apprec_error"], "T01", "{name}");
        assert!(!f["text_nb"].as_str().unwrap_or("").is_empty(), "{name}");
        assert!(!f["text_en"].as_str().unwrap_or("").is_empty(), "{name}");
        assert_eq!(v[0]["verdict"], "rejected", "{name}");
    }
}

/// The same message in ISO-8859-1, with Norwegian letters, reads as in UTF-8.
#[test]
fn reads_iso_8859_1_messages() {
    let src = std::fs::read_to_string(examples().join("Innleggelsesrapport_v1-6_Ny.xml")).unwrap();
    assert!(
        src.chars().any(|c| "æøåÆØÅ".contains(c)),
        "the example should have Norwegian letters"
    );
    let src = src.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
    let latin1: Vec<u8> = src
        .chars()
        .map(|c| u8::try_from(c as u32).expect("example is Latin-1 representable"))
        .collect();
    let dir = scratch("latin1");
    let file = dir.join("latin1.xml");
    std::fs::write(&file, &latin1).unwrap();
    let v = validate_json_ok(&file);
    let utf8 = validate_json_ok(&examples().join("Innleggelsesrapport_v1-6_Ny.xml"));
    assert_eq!(v[0]["verdict"], utf8[0]["verdict"]);
    assert_eq!(v[0]["findings"], utf8[0]["findings"]);
    // The same bytes declared as UTF-8 are refused, at the first bad byte.
    let mut lying = latin1.clone();
    let decl = b"encoding=\"ISO-8859-1\"";
    let at = lying.windows(decl.len()).position(|w| w == decl).unwrap();
    lying.splice(at..at + decl.len(), b"encoding=\"UTF-8\"".iter().copied());
    let out = run_stdin(&["validate", "--format", "json", "-"], &lying);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)[0]["findings"][0]["code"], "XML006");
    let _ = std::fs::remove_dir_all(dir);
}

/// Findings and errors never carry the patient's name or national id.
#[test]
fn output_never_carries_patient_data() {
    let src = std::fs::read_to_string(examples().join("Innleggelsesrapport_v1-6_Ny.xml")).unwrap();
    // Break the message in many places around the patient.
    let broken = src
        .replacen("<FamilyName>", "<FamilyName><Unknown/>", 1)
        .replacen("</MsgInfo>", "", 1);
    let out = run_stdin(&["validate", "--format", "json", "-"], broken.as_bytes());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in ["Danser", "13116900216"] {
        assert!(src.contains(secret), "the example should contain {secret}");
        assert!(!all.contains(secret), "output leaks {secret}: {all}");
    }
}

#[test]
fn apprec_answers_a_valid_message_with_status_1_and_swapped_parties() {
    let out = bin()
        .arg("apprec")
        .arg(examples().join("Innleggelsesrapport_v1-6_Ny.xml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("xmlns=\"http://www.kith.no/xmlstds/apprec/2012-02-15\""),
        "{xml}"
    );
    assert!(xml.contains("<Status V=\"1\""), "{xml}");
    assert!(
        xml.contains("<Id>13a5da20-05c6-11e8-8f1a-0800200c9a66</Id>"),
        "{xml}"
    );
    // The receipt's sender is the original receiver (the hospital).
    let sender = &xml[xml.find("<Sender>").unwrap()..xml.find("</Sender>").unwrap()];
    assert!(sender.contains("ST OLAVS HOSPITAL HF"), "{sender}");
    assert!(!xml.contains("<Error"), "{xml}");
}

#[test]
fn apprec_rejects_broken_input_with_t01_in_both_versions() {
    for (version, ns) in [
        ("1.1", "http://www.kith.no/xmlstds/apprec/2012-02-15"),
        ("1.0", "http://www.kith.no/xmlstds/apprec/2004-11-21"),
    ] {
        let out = run_stdin(
            &["apprec", "--version", version, "-"],
            b"<MsgHead><oops></MsgHead>",
        );
        assert_eq!(out.status.code(), Some(0));
        let xml = String::from_utf8_lossy(&out.stdout);
        assert!(xml.contains(ns), "{xml}");
        assert!(xml.contains("<Status V=\"2\""), "{xml}");
        assert!(xml.contains("V=\"T01\""), "{xml}");
    }
}

/// `overgang registry check`: the demo registry is usable; a broken file
/// gets every problem with file and line and exit 1; an unreadable file
/// exit 2.
#[test]
fn registry_check_reports_ok_or_every_problem_with_file_and_line() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry/demo.toml");
    let out = bin()
        .args(["registry", "check"])
        .arg(&demo)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.trim_end().ends_with("OK: 13 parties"), "{stdout}");

    let dir = scratch("registry");
    let bad = dir.join("registry.toml");
    std::fs::write(
        &bad,
        "[[party]]\nher = \"59\"\nname = \"Sykehus\"\nkind = \"organisation\"\n\
         endpoint = \"http://ehr.example.no/plo\"\naccepts = []\n\n\
         [[party]]\nher = \"91090\"\nname = \"PLO\"\nkind = \"hospital_service\"\nparent = \"59x\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["registry", "check"])
        .arg(&demo)
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let name = bad.display().to_string();
    assert!(
        stdout.contains(&format!("{name}:5: party 59: endpoint uses plain http")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{name}:12: party 91090: parent \"59x\" is not a HER-id"
        )),
        "{stdout}"
    );

    let out = bin()
        .args(["registry", "check", "/nonexistent/registry.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/registry.toml"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `overgang users`: people are added, listed, given new passwords and
/// removed; passwords come from standard input and only their Argon2id
/// hashes reach the file; bad names, roles, units and short passwords are
/// refused with exit status 2 and the file left as it was.
#[test]
fn users_are_managed_from_the_command_line() {
    let dir = scratch("users");
    let file = dir.join("users.toml");
    let f = file.to_str().expect("path");
    let add = run_stdin(
        &[
            "users",
            "add",
            "--file",
            f,
            "kari",
            "--display-name",
            "Kari N",
            "--role",
            "nurse",
            "--unit",
            "8100002",
        ],
        b"a-long-password-1\n",
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let coordinator = run_stdin(
        &[
            "users",
            "add",
            "--file",
            f,
            "siv",
            "--role",
            "coordinator",
            "--municipality",
            "5001",
        ],
        b"third-password-3\n",
    );
    assert!(coordinator.status.success());
    let ops = run_stdin(
        &[
            "users", "add", "--file", f, "ola", "--role", "operator", "--role", "admin",
        ],
        b"another-password-2\n",
    );
    assert!(ops.status.success());
    let text = std::fs::read_to_string(&file).expect("users file");
    assert!(!text.contains("a-long-password-1") && text.contains("$argon2id$"));
    let people = overgang_server::ui::people::UsersFile::parse(&text).expect("parses");
    let kari = people.get("kari").expect("kari");
    assert_eq!(kari.units, ["8100002"]);

    let list = run_stdin(&["users", "list", "--file", f], b"");
    let out = String::from_utf8_lossy(&list.stdout);
    assert!(out.contains("kari\tKari N\tnurse\t8100002"), "{out}");
    assert!(out.contains("ola\t\toperator,admin\t"), "{out}");
    assert!(out.contains("siv\t\tcoordinator\t\t5001"), "{out}");
    assert!(!out.contains("argon2"));

    // A new password: a new hash; the old one no longer in the file.
    let passwd = run_stdin(
        &["users", "passwd", "--file", f, "kari"],
        b"a-new-password-3\n",
    );
    assert!(passwd.status.success());
    let after = std::fs::read_to_string(&file).expect("users file");
    let kari_after = overgang_server::ui::people::UsersFile::parse(&after).expect("parses");
    assert_ne!(
        kari_after.get("kari").expect("kari").password_hash,
        kari.password_hash
    );

    // Refusals leave the file alone.
    for (args, input) in [
        (
            vec![
                "users", "add", "--file", f, "a b", "--role", "nurse", "--unit", "1",
            ],
            &b"long-enough-pw\n"[..],
        ),
        (
            vec!["users", "add", "--file", f, "per", "--role", "doctor"],
            &b"long-enough-pw\n"[..],
        ),
        (
            vec!["users", "add", "--file", f, "per", "--role", "nurse"],
            &b"long-enough-pw\n"[..],
        ),
        (
            vec![
                "users", "add", "--file", f, "per", "--role", "nurse", "--unit", "x1",
            ],
            &b"long-enough-pw\n"[..],
        ),
        (
            vec!["users", "add", "--file", f, "per", "--role", "operator"],
            &b"short\n"[..],
        ),
        (
            vec!["users", "passwd", "--file", f, "nobody"],
            &b"long-enough-pw\n"[..],
        ),
        (vec!["users", "remove", "--file", f, "nobody"], &b""[..]),
    ] {
        let out = run_stdin(&args, input);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
        assert_eq!(
            std::fs::read_to_string(&file).expect("file"),
            after,
            "{args:?}"
        );
    }

    let rm = run_stdin(&["users", "remove", "--file", f, "kari"], b"");
    assert!(rm.status.success());
    let left = overgang_server::ui::people::UsersFile::parse(
        &std::fs::read_to_string(&file).expect("file"),
    )
    .expect("parses");
    assert!(left.get("kari").is_none() && left.get("ola").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flow_subcommands_are_listed_and_an_empty_store_rebuilds_to_nothing() {
    let out = bin().args(["flow", "--help"]).output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("rebuild") && help.contains("stays"), "{help}");

    // A fresh store: nothing to rebuild, nothing to count.
    let d = scratch("flow-empty");
    let config = d.join("overgang.toml");
    std::fs::write(
        &config,
        format!("[store]\ndata = \"{}\"\n", d.join("data").display()),
    )
    .expect("write config");
    let cfg = config.display().to_string();
    let out = bin()
        .args(["flow", "rebuild", "--config", &cfg])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("messages: 0") && text.contains("facts written: 0"),
        "{text}"
    );
    let out = bin()
        .args(["flow", "stays", "--config", &cfg, "--json"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["stays"], 0);
    assert_eq!(v["unplaced"], 0);
    // A missing config file is a usage/IO error, exit 2.
    let out = bin()
        .args(["flow", "rebuild", "--config", "/nonexistent/overgang.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&d);
}
