use super::*;

const HOSPITAL: &str = r#"
[[party]]
her = "59"
name = "St. Olavs hospital HF"
kind = "organisation"
endpoint = "https://ehr.example.no/plo"
auth = { client_cert = "certs/stolav.pem", client_key = "certs/stolav.key" }
accepts = [{ type = "INNLEGGELSESRAPPORT", versions = ["1.6"] }]
callback = "https://ehr.example.no/receipts"

[[party]]
her = "91090"
name = "PLO innleggelse somatikk"
kind = "hospital_service"
parent = "59"
"#;

fn parse(text: &str) -> Result<Registry, RegistryError> {
    Registry::parse("registry.toml", text)
}

/// The one problem in `text`, as its text.
fn problem(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => {
            let lines = e.lines();
            assert_eq!(lines.len(), 1, "expected one problem, got {lines:#?}");
            lines[0].clone()
        }
    }
}

fn party(her: &str, kind: &str, extra: &str) -> String {
    format!("[[party]]\nher = \"{her}\"\nname = \"P {her}\"\nkind = \"{kind}\"\n{extra}\n")
}

fn org(her: &str, extra: &str) -> String {
    party(her, "organisation", extra)
}

const OK_ACCEPTS: &str = "accepts = [{ type = \"LOG_DOD\", versions = [\"1.6\"] }]";

fn with_endpoint(url: &str) -> String {
    org("1", &format!("endpoint = \"{url}\"\n{OK_ACCEPTS}"))
}

#[test]
fn reads_the_example() {
    let r = parse(HOSPITAL).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r.name(), "registry.toml");
    let unit = r.get("91090").unwrap();
    assert_eq!(unit.kind, Kind::HospitalService);
    assert_eq!(unit.parent.as_deref(), Some("59"));
    assert_eq!(unit.line, 12);
    assert!(unit.endpoint.is_none());
    assert_eq!(
        r.parties().map(|p| p.her.as_str()).collect::<Vec<_>>(),
        ["59", "91090"]
    );
}

#[test]
fn a_unit_without_endpoint_inherits_endpoint_auth_accepts_and_callback() {
    let r = parse(HOSPITAL).unwrap();
    let route = r.route("91090").unwrap();
    assert_eq!(route.via, "59");
    assert_eq!(route.endpoint.url(), "https://ehr.example.no/plo");
    assert_eq!(
        route.auth.unwrap().client_cert.as_deref(),
        Some("certs/stolav.pem")
    );
    assert_eq!(
        r.effective_endpoint("91090").map(Endpoint::url),
        Some("https://ehr.example.no/plo")
    );
    assert!(r.effective_auth("91090").is_some());
    assert!(r.accepts("91090", "INNLEGGELSESRAPPORT", "1.6"));
    assert!(!r.accepts("91090", "INNLEGGELSESRAPPORT", "1.5"));
    assert!(!r.accepts("91090", "UTSKRIVNINGSRAPPORT", "1.6"));
    assert!(!r.accepts("12345", "INNLEGGELSESRAPPORT", "1.6"));
    assert_eq!(
        r.effective_callback("91090").map(Endpoint::url),
        Some("https://ehr.example.no/receipts")
    );
}

#[test]
fn own_settings_win_over_inherited_ones_each_on_its_own() {
    let text = format!(
        "{}{}{}",
        org(
            "1",
            "endpoint = \"https://org.example.no/in\"\n\
             auth = { bearer_token_file = \"secrets/org.token\" }\n\
             accepts = [{ type = \"LOG_DOD\", versions = [\"1.6\"] }]"
        ),
        party(
            "2",
            "hospital_service",
            "parent = \"1\"\naccepts = [{ type = \"INNLEGGELSESRAPPORT\", versions = [\"1.5\", \"1.6\"] }]"
        ),
        party(
            "3",
            "hospital_service",
            "parent = \"2\"\nendpoint = \"http://127.0.0.1:9101/3\"\naccepts = []"
        ),
    );
    let r = parse(&text).unwrap();
    // 2: the organisation's endpoint and auth, its own accepts.
    assert_eq!(r.route("2").unwrap().via, "1");
    assert!(r.accepts("2", "INNLEGGELSESRAPPORT", "1.5"));
    assert!(!r.accepts("2", "LOG_DOD", "1.6"));
    // 3: its own endpoint, no auth (not inherited apart from the endpoint),
    // and it accepts nothing.
    let route = r.route("3").unwrap();
    assert_eq!(route.via, "3");
    assert!(route.auth.is_none());
    assert!(!r.accepts("3", "INNLEGGELSESRAPPORT", "1.6"));
    assert_eq!(r.effective_accepts("3"), Some(&[][..]));
    // Family.
    assert_eq!(r.organisation("3").unwrap().her, "1");
    assert_eq!(r.organisation("1").unwrap().her, "1");
    assert_eq!(r.parent("3").unwrap().her, "2");
    assert_eq!(
        r.children("1").map(|p| p.her.as_str()).collect::<Vec<_>>(),
        ["2"]
    );
    assert_eq!(
        r.descendants("1")
            .iter()
            .map(|p| p.her.as_str())
            .collect::<Vec<_>>(),
        ["2", "3"]
    );
    assert_eq!(
        r.lineage("3").map(|p| p.her.as_str()).collect::<Vec<_>>(),
        ["3", "2", "1"]
    );
}

#[test]
fn an_unreachable_party_accepts_nothing() {
    let text = format!(
        "{}{}",
        org("1", ""),
        party("2", "gp", &format!("parent = \"1\"\n{OK_ACCEPTS}"))
    );
    let r = parse(&text).unwrap();
    assert!(r.route("2").is_none());
    assert!(r.effective_endpoint("2").is_none());
    assert!(!r.accepts("2", "LOG_DOD", "1.6"));
}

#[test]
fn an_empty_file_is_an_empty_registry() {
    let r = parse("# nothing yet\n").unwrap();
    assert!(r.is_empty());
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = parse("[[party]]\nher = \"1\"\nname = \n").unwrap_err();
    assert!(matches!(e, RegistryError::Syntax { line: 3, .. }), "{e}");
    assert!(e.to_string().starts_with("registry.toml:3: "), "{e}");
}

#[test]
fn unknown_fields_are_refused() {
    let p = problem(&org("1", "colour = \"blue\""));
    assert!(p.starts_with("registry.toml:"), "{p}");
    assert!(p.contains("unknown field `colour`"), "{p}");
}

#[test]
fn a_field_that_looks_like_an_inline_secret_is_refused_without_repeating_it() {
    for field in ["token", "bearer_token", "password", "api_key"] {
        let p = problem(
            &with_endpoint("https://a.example.no/")
                .replace("kind =", &format!("{field} = \"s3cr3t-value\"\nkind =")),
        );
        assert!(p.contains("looks like an inline secret"), "{p}");
        assert!(!p.contains("s3cr3t"), "{p}");
    }
    let p = problem(&org(
        "1",
        &format!(
            "endpoint = \"https://a.example.no/\"\n{OK_ACCEPTS}\nauth = {{ token = \"s3cr3t-value\" }}"
        ),
    ));
    assert!(p.contains("`token` looks like an inline secret"), "{p}");
    assert!(!p.contains("s3cr3t"), "{p}");
    // A string where a table belongs is not echoed either.
    let p = problem(&org(
        "1",
        &format!("endpoint = \"https://a.example.no/\"\n{OK_ACCEPTS}\nauth = \"Bearer s3cr3t\""),
    ));
    assert!(!p.contains("s3cr3t"), "{p}");
    assert!(p.starts_with("registry.toml:7:"), "{p}");
}

#[test]
fn her_must_be_digits() {
    let p = problem(&org("x1", ""));
    assert_eq!(
        p,
        "registry.toml:2: party \"x1\": her \"x1\" is not a HER-id (1 to 10 digits)"
    );
    problem(&org("12345678901", ""));
}

#[test]
fn duplicate_her_ids_are_refused() {
    let p = problem(&format!("{}{}", org("59", ""), org("59", "")));
    assert_eq!(
        p,
        "registry.toml:7: party 59: HER-id 59 is listed twice (first at line 2)"
    );
}

#[test]
fn name_and_kind_are_checked() {
    let p = problem("[[party]]\nher = \"1\"\nname = \" \"\nkind = \"organisation\"\n");
    assert_eq!(p, "registry.toml:3: party 1: name is empty");
    let p = problem(&party("1", "hospital", ""));
    assert!(
        p.ends_with(
            "kind \"hospital\" is not one of organisation, hospital_service, municipal_service, gp"
        ),
        "{p}"
    );
}

#[test]
fn parents_are_checked() {
    let base = org("59", "");
    let p = problem(&format!(
        "{base}{}",
        party("91090", "hospital_service", "parent = \"59x\"")
    ));
    assert_eq!(
        p,
        "registry.toml:10: party 91090: parent \"59x\" is not a HER-id (1 to 10 digits)"
    );
    let p = problem(&format!(
        "{base}{}",
        party("91090", "hospital_service", "parent = \"58\"")
    ));
    assert_eq!(
        p,
        "registry.toml:10: party 91090: parent 58 is not in the registry"
    );
    let p = problem(&format!("{base}{}", party("91090", "hospital_service", "")));
    assert!(p.contains("a hospital_service must name its parent"), "{p}");
    let p = problem(&format!("{base}{}", org("60", "parent = \"59\"")));
    assert!(
        p.contains("an organisation is level 1 and has no parent"),
        "{p}"
    );
    let p = problem(&format!(
        "{base}{}{}",
        party("2", "gp", "parent = \"59\""),
        party("3", "gp", "parent = \"2\"")
    ));
    assert!(
        p.contains("parent 2: a gp is a person and has no units"),
        "{p}"
    );
    let p = problem(&format!(
        "{}{}{}",
        org("1", "municipality = \"5001\""),
        party(
            "2",
            "municipal_service",
            "parent = \"1\"\nmunicipality = \"5001\""
        ),
        party("3", "hospital_service", "parent = \"2\"")
    ));
    assert!(
        p.contains("a hospital_service cannot belong to a municipal_service"),
        "{p}"
    );
}

#[test]
fn parent_cycles_are_refused() {
    let text = format!(
        "{}{}{}",
        org("1", ""),
        party("2", "hospital_service", "parent = \"3\""),
        party("3", "hospital_service", "parent = \"2\""),
    );
    let e = parse(&text).unwrap_err();
    let lines = e.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].contains("party 2: the parent chain loops back to this party (2 → 3 → 2)"));
    assert!(lines[1].contains("party 3:"));
    // A party that points at itself.
    let p = problem(&format!(
        "{}{}",
        org("1", ""),
        party("2", "hospital_service", "parent = \"2\"")
    ));
    assert!(p.contains("loops back"), "{p}");
}

#[test]
fn municipality_numbers_are_checked() {
    let muni = |org_m: &str, svc_m: &str| {
        format!(
            "{}{}",
            org("1", org_m),
            party(
                "2",
                "municipal_service",
                &format!("parent = \"1\"\n{svc_m}")
            )
        )
    };
    assert!(parse(&muni("municipality = \"3428\"", "municipality = \"3428\"")).is_ok());
    let p = problem(&muni("municipality = \"3428\"", "municipality = \"342\""));
    assert!(
        p.contains("municipality \"342\" is not a municipality number (4 digits)"),
        "{p}"
    );
    let p = problem(&muni("municipality = \"3428\"", ""));
    assert!(
        p.contains("party 2: a municipal_service needs its municipality number"),
        "{p}"
    );
    let p = problem(&muni("municipality = \"3428\"", "municipality = \"3429\""));
    assert!(
        p.contains("municipality 3429 differs from its organisation 1's (3428)"),
        "{p}"
    );
    let p = problem(&muni("", "municipality = \"3428\""));
    assert!(
        p.contains("party 1: organisation of municipal_service 2 needs its municipality number"),
        "{p}"
    );
    let p = problem(&format!(
        "{}{}",
        org("1", ""),
        party("2", "gp", "parent = \"1\"\nmunicipality = \"3428\"")
    ));
    assert!(
        p.contains("municipality is only for municipal parties, not a gp"),
        "{p}"
    );
    let p = problem(&format!(
        "{}{}",
        org("1", "municipality = \"3428\""),
        party("2", "hospital_service", "parent = \"1\"")
    ));
    assert!(
        p.contains("municipality is only for municipal organisations, and 2 under it is a hospital_service"),
        "{p}"
    );
}

#[test]
fn endpoints_are_https_or_loopback_http() {
    for ok in [
        "https://ehr.example.no/plo",
        "https://ehr.example.no:8443/plo?x=1",
        "http://127.0.0.1:9101/59",
        "http://[::1]:9101/",
        "http://localhost:9101",
    ] {
        assert!(parse(&with_endpoint(ok)).is_ok(), "{ok}");
    }
    let e = parse(&with_endpoint("https://[::1]:9101/x")).unwrap();
    let ep = e.effective_endpoint("1").unwrap();
    assert_eq!(
        (ep.host(), ep.port(), ep.tls()),
        ("[::1]", Some(9101), true)
    );
    for (bad, why) in [
        (
            "http://ehr.example.no/plo",
            "uses plain http to ehr.example.no",
        ),
        ("ftp://ehr.example.no/", "has scheme «ftp»"),
        ("ehr.example.no/plo", "is not a URL"),
        ("https:///plo", "has no host"),
        ("https://ehr.example.no:99999/", "invalid port"),
        ("https://ehr.example.no/#x", "has a fragment"),
        ("https://ehr ex.no/", "spaces"),
        (
            "https://ehr.example.no/in?access_token=abc",
            "looks like an inline secret",
        ),
    ] {
        let p = problem(&with_endpoint(bad));
        assert!(p.starts_with("registry.toml:5: party 1: endpoint "), "{p}");
        assert!(p.contains(why), "{bad}: {p}");
    }
    let p = problem(&with_endpoint("https://user:s3cr3t@ehr.example.no/"));
    assert!(p.contains("carries a user name or password"), "{p}");
    assert!(!p.contains("s3cr3t"), "{p}");
}

#[test]
fn callbacks_follow_the_endpoint_rules() {
    let p = problem(&org("1", "callback = \"http://ehr.example.no/receipts\""));
    assert!(p.contains("party 1: callback uses plain http"), "{p}");
}

#[test]
fn auth_names_secret_files_only() {
    let with_auth = |auth: &str| {
        org(
            "1",
            &format!("endpoint = \"https://a.example.no/\"\n{OK_ACCEPTS}\nauth = {auth}"),
        )
    };
    assert!(parse(&with_auth("{ bearer_token_file = \"secrets/a.token\" }")).is_ok());
    assert!(parse(&with_auth(
        "{ client_cert = \"a.pem\", client_key = \"a.key\", bearer_token_file = \"a.token\" }"
    ))
    .is_ok());
    for (auth, why) in [
        (
            "{ client_cert = \"a.pem\" }",
            "auth.client_cert and auth.client_key come together",
        ),
        ("{}", "auth names no secret file"),
        (
            "{ bearer_token_file = \"\" }",
            "auth.bearer_token_file is empty",
        ),
        (
            "{ client_cert = \"a.pem\", client_key = \"-----BEGIN PRIVATE KEY-----\" }",
            "auth.client_key holds PEM text",
        ),
        (
            "{ bearer_token_file = \"Bearer abc\" }",
            "looks like a token, not a file path",
        ),
        (
            "{ bearer_token_file = \"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln\" }",
            "looks like a token, not a file path",
        ),
    ] {
        let p = problem(&with_auth(auth));
        assert!(p.contains(why), "{auth}: {p}");
        assert!(!p.contains("abc") && !p.contains("eyJ"), "{p}");
    }
    let p = problem(&org("1", "auth = { bearer_token_file = \"a.token\" }"));
    assert!(
        p.contains("auth belongs to the party's own endpoint, and this party has none"),
        "{p}"
    );
}

#[test]
fn accepts_is_checked_against_code_list_8279() {
    let with_accepts = |a: &str| {
        org(
            "1",
            &format!("endpoint = \"https://a.example.no/\"\naccepts = {a}"),
        )
    };
    assert!(parse(&with_accepts(
        "[{ type = \"INNLEGGELSESRAPPORT\", versions = [\"1.5\", \"1.6\"] }, { type = \"LOG_DOD\", versions = [\"1.6\"] }]"
    ))
    .is_ok());
    for (a, why) in [
        (
            "[{ type = \"INNLEGGELSE\", versions = [\"1.6\"] }]",
            "accepts: \"INNLEGGELSE\" is not a message type (code list 8279",
        ),
        (
            "[{ type = \"LOG_DOD\", versions = [\"1.6\"] }, { type = \"LOG_DOD\", versions = [\"1.5\"] }]",
            "accepts: LOG_DOD is listed twice",
        ),
        ("[{ type = \"LOG_DOD\", versions = [] }]", "accepts: LOG_DOD lists no versions"),
        (
            "[{ type = \"LOG_DOD\", versions = [\"v1.6\"] }]",
            "version \"v1.6\" is not a version number",
        ),
    ] {
        let p = problem(&with_accepts(a));
        assert!(p.contains(why), "{a}: {p}");
    }
    let p = problem(&with_accepts("[{ type = \"LOG_DOD\" }]"));
    assert!(p.contains("missing field `versions`"), "{p}");
    let p = problem(&org("1", "endpoint = \"https://a.example.no/\""));
    assert!(
        p.contains("party 1: a party with its own endpoint must say what it accepts"),
        "{p}"
    );
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let text = format!(
        "{}{}{}",
        org("1", "endpoint = \"http://a.example.no/\"\naccepts = []"),
        party("x", "gp", "parent = \"1\""),
        party("3", "gp", "parent = \"9\""),
    );
    let e = parse(&text).unwrap_err();
    let lines = e.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].starts_with("registry.toml:5: party 1: endpoint"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("registry.toml:8: party \"x\": her"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("registry.toml:16: party 3: parent 9 is not in"),
        "{}",
        lines[2]
    );
    assert_eq!(e.to_string(), lines.join("\n"));
}

#[test]
fn the_demo_registry_reads() {
    let text = include_str!("../../../config/registry/demo.toml");
    let r = Registry::parse("demo.toml", text).unwrap_or_else(|e| panic!("{e}"));
    for her in ["59", "91090", "90998", "99387", "5078", "91096", "91100"] {
        assert!(r.get(her).is_some(), "{her}");
    }
    assert!(r.accepts("91090", "INNLEGGELSESRAPPORT", "1.6"));
    assert!(r.accepts("5078", "UTSKRIVNINGSRAPPORT", "1.6"));
    assert!(r.accepts("91100", "HELSEOPPLYSNINGER_LEGE", "1.6"));
    let orgs = r.parties().filter(|p| p.kind == Kind::Organisation);
    let municipalities = orgs.filter(|p| p.municipality.is_some()).count();
    assert_eq!(municipalities, 2);
    assert_eq!(r.parties().filter(|p| p.kind == Kind::Gp).count(), 3);
    for p in r.parties() {
        if let Some(e) = r.effective_endpoint(&p.her) {
            assert_eq!(e.host(), "127.0.0.1", "{}", p.her);
        }
    }
}
