//! The whole validate stage (reader, profiles, completeness rules) as the
//! gateway runs it: `overgang_validate::Validator::validate`.
//!
//! Asserts: the verdict is the one the findings give; input the reader
//! refuses has exactly one `XML…` finding, no document and an empty model;
//! every finding (schema or rule) is well-formed and placed inside the
//! document; the report's ids are the model's; rule findings come from an
//! enabled rule of the catalogue, with its severity, category and AppRec
//! code, and only on the message types the rule names.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use overgang_model::{Message, Verdict};
use overgang_rules::RuleInfo;
use overgang_validate::{Options, Validator};
use std::collections::HashMap;
use std::sync::OnceLock;

struct Fixture {
    validator: Validator,
    /// The enabled rules, by id.
    rules: HashMap<String, RuleInfo>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let validator = Validator::new(Options::default()).expect("the built-in validator");
        let rules = validator
            .rules()
            .rules()
            .iter()
            .filter(|r| r.info().enabled)
            .map(|r| (r.info().id.clone(), r.info().clone()))
            .collect();
        Fixture { validator, rules }
    })
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let report = fx.validator.validate(data);
    common::check_verdict(report.verdict, &report.findings);
    let doc = report.document.as_ref();
    for f in &report.findings {
        common::check_finding(f, doc);
    }
    match doc {
        None => {
            assert_eq!(report.findings.len(), 1, "a refused input has one finding");
            assert!(report.findings[0].code.starts_with("XML"));
            assert_eq!(report.verdict, Verdict::Rejected);
            assert_eq!(report.message, Message::default());
            assert!(report.msg_id.is_none() && report.msg_type.is_none());
        }
        Some(_) => {
            assert_eq!(report.msg_id.as_deref(), report.message.msg_id());
            assert_eq!(report.msg_type.as_deref(), report.message.msg_type());
            for f in report
                .findings
                .iter()
                .filter(|f| !f.code.starts_with("SCH"))
            {
                let rule = fx.rules.get(&f.code).unwrap_or_else(|| {
                    panic!(
                        "finding {} is neither a schema finding nor an enabled rule",
                        f.code
                    )
                });
                assert_eq!(f.severity, rule.severity, "severity of {}", f.code);
                assert_eq!(f.category, rule.category, "category of {}", f.code);
                assert_eq!(
                    f.apprec_error, rule.apprec_error,
                    "AppRec code of {}",
                    f.code
                );
                let t = report.msg_type.as_deref();
                assert!(
                    rule.messages.is_empty()
                        || t.is_some_and(|t| rule.messages.iter().any(|m| m == t)),
                    "rule {} fired on message type {t:?}, outside its types",
                    f.code
                );
            }
        }
    }
});
