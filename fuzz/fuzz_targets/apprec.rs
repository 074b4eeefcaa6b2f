//! The AppRec writer: the receipt for the fuzzed message and its findings,
//! in both versions (1.0 and 1.1), with and without status 3 for warnings.
//!
//! Asserts: building never fails for a valid receipt id and time; the
//! status follows the findings (an error rejects with at least one `Error`,
//! OK carries none); every `Error` code is in list 8221 and its `OT` within
//! the limit; the receipt is well-formed XML whose root is `AppRec` in the
//! version's namespace; reading it back gives the same version, status,
//! error codes, ids and dates; and when the received message was not
//! rejected, the receipt has no schema-level error against the AppRec
//! profiles.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use overgang_apprec::{
    AppRecOptions, AppRecStatus, AppRecVersion, NewReceipt, ReceiverRole, MAX_OT_CHARS,
};
use overgang_codelists::CodeLists;
use overgang_model::{Severity, Verdict};
use overgang_validate::{Options, Validator};
use overgang_xml::Limits;
use std::sync::OnceLock;

struct Fixture {
    validator: Validator,
    lists: CodeLists,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        validator: Validator::new(Options::default()).expect("the built-in validator"),
        lists: CodeLists::builtin(),
    })
}

const NEW: NewReceipt<'static> = NewReceipt {
    msg_id: "7c0b4a3e-5d1f-4c83-9a8e-3f0f2d9b6a11",
    gen_date: "2026-11-24T04:00:00+01:00",
};

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let report = fx.validator.validate(data);
    common::check_verdict(report.verdict, &report.findings);
    for version in [AppRecVersion::V1_0, AppRecVersion::V1_1] {
        for status3 in [false, true] {
            let opts = AppRecOptions {
                version,
                status3_for_warnings: status3,
                role: if status3 {
                    ReceiverRole::Copy
                } else {
                    ReceiverRole::Primary
                },
                software_name: Some("Overgang".into()),
                software_version: Some("fuzz".into()),
            };
            let a = overgang_apprec::build_with(
                &report.message,
                &report.findings,
                &NEW,
                &opts,
                &fx.lists,
            )
            .unwrap_or_else(|e| panic!("building the AppRec failed: {e}"));

            assert_eq!(
                a.status,
                overgang_apprec::status_for(&report.findings, &opts)
            );
            match report.verdict {
                Verdict::Rejected => {
                    assert_eq!(a.status, AppRecStatus::Rejected);
                    assert!(!a.errors.is_empty(), "a rejection without an Error");
                }
                Verdict::AcceptedWithWarnings if status3 => {
                    assert_eq!(a.status, AppRecStatus::OkWithErrors);
                    assert!(!a.errors.is_empty(), "status 3 without an Error");
                }
                _ => {
                    assert_eq!(a.status, AppRecStatus::Ok);
                    assert!(a.errors.is_empty(), "an OK receipt with Errors");
                }
            }
            for e in &a.errors {
                assert!(
                    fx.lists.contains(8221, &e.code),
                    "code {} not in 8221",
                    e.code
                );
                assert!(e.ot.chars().count() <= MAX_OT_CHARS, "OT too long");
                assert!(!e.findings.is_empty(), "an Error with no finding behind it");
            }

            // Well-formed, and the right root.
            let doc = overgang_xml::parse(a.xml.as_bytes(), &Limits::default())
                .unwrap_or_else(|e| panic!("the AppRec is not well-formed: {e}\n{}", a.xml));
            assert_eq!(doc.root().name(), "AppRec");
            assert_eq!(doc.root().ns(), version.namespace());

            // Read back.
            let r = overgang_apprec::read(a.xml.as_bytes(), &Limits::default())
                .unwrap_or_else(|e| panic!("the AppRec does not read back: {e}"));
            let v = match version {
                AppRecVersion::V1_0 => "1.0",
                AppRecVersion::V1_1 => "1.1",
            };
            assert_eq!(r.version, v);
            assert_eq!(r.status, Some(a.status));
            assert_eq!(
                r.error_codes().collect::<Vec<_>>(),
                a.errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>()
            );
            assert_eq!(r.id.as_deref(), Some(NEW.msg_id));
            assert_eq!(r.gen_date.as_deref(), Some(NEW.gen_date));
            let original = r.original.as_ref().expect("OriginalMsgId");
            assert_eq!(
                original.id.as_deref(),
                report
                    .message
                    .msg_id()
                    .map(str::trim)
                    .filter(|s| !s.is_empty()),
                "OriginalMsgId/Id"
            );
            if a.issue_date_substituted {
                assert_eq!(original.issue_date.as_deref(), Some(NEW.gen_date));
            }

            // The receipt for a message the gateway took is schema-valid.
            if report.verdict != Verdict::Rejected {
                let bad: Vec<_> = fx
                    .validator
                    .schemas()
                    .validate(&doc)
                    .into_iter()
                    .filter(|f| f.severity == Severity::Error)
                    .map(|f| format!("{} {} {}", f.code, f.path, f.text_en))
                    .collect();
                assert!(
                    bad.is_empty(),
                    "the AppRec for an accepted message is not schema-valid: {bad:?}\n{}",
                    a.xml
                );
            }
        }
    }
});
