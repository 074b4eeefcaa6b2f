//! Patients in test messages: reading who the patient is, giving a message
//! another (fictitious, valid) patient, and the values that must never reach
//! a log.
//!
//! The official examples name three fictitious patients. Tests that need
//! more (order per patient, many deliveries at once) give an example a
//! fresh national id: a fødselsnummer with the same birth date and valid
//! check digits, so validation has nothing new to say about it.

#![allow(dead_code)] // each test crate uses part of this module

use overgang_model::Message;
use std::collections::BTreeSet;

/// Reads a message with the gateway's own model (for the test's bookkeeping:
/// ids, HER-ids, the patient).
pub fn read(bytes: &[u8]) -> Message {
    let doc = overgang_xml::parse(bytes, &overgang_xml::Limits::default())
        .unwrap_or_else(|e| panic!("the message is not well-formed: {e}"));
    Message::read(&doc)
}

/// The envelope patient's first identifier (the one the gateway orders
/// deliveries by).
pub fn patient_id(bytes: &[u8]) -> String {
    read(bytes)
        .head
        .as_ref()
        .and_then(|h| h.patient.as_ref())
        .and_then(|p| p.idents.iter().find_map(|i| i.id.expose().clone()))
        .map(|s| s.trim().to_owned())
        .expect("the message names its patient")
}

/// The `n`-th fictitious fødselsnummer born on `ddmmyy` (valid check
/// digits; individual numbers from 100 up, those without a check digit
/// skipped). Different `n` give different numbers.
pub fn fnr(ddmmyy: &str, n: usize) -> String {
    (100..500)
        .filter_map(|i| overgang_rules::make_national_id(ddmmyy, &i.to_string()))
        .nth(n)
        .unwrap_or_else(|| panic!("no {n}-th national id for {ddmmyy}"))
}

/// `bytes` with the envelope patient's national id replaced by `new`.
pub fn with_patient(bytes: &[u8], new: &str) -> Vec<u8> {
    let old = patient_id(bytes);
    let hits = bytes
        .windows(old.len())
        .filter(|w| *w == old.as_bytes())
        .count();
    assert_eq!(hits, 1, "the patient's id appears once in the message");
    let at = bytes
        .windows(old.len())
        .position(|w| w == old.as_bytes())
        .expect("found above");
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&bytes[at + old.len()..]);
    assert_eq!(patient_id(&out), new);
    out
}

/// National ids and names (3 characters or more) of the patients of
/// `messages`: what no log may contain.
pub fn secrets<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for bytes in messages {
        let m = read(bytes);
        let Some(p) = m.head.as_ref().and_then(|h| h.patient.as_ref()) else {
            continue;
        };
        for i in &p.idents {
            if let Some(id) = i.id.expose() {
                out.insert(id.trim().to_owned());
            }
        }
        for n in [&p.family_name, &p.given_name, &p.middle_name] {
            if let Some(n) = n.expose() {
                if n.trim().len() >= 3 {
                    out.insert(n.trim().to_owned());
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Panics, without quoting it, when `text` (a log) contains one of
/// `secrets`.
pub fn assert_no_secrets(what: &str, text: &str, secrets: &[String]) {
    assert!(!secrets.is_empty(), "no patient data to look for");
    for (i, s) in secrets.iter().enumerate() {
        assert!(
            !text.contains(s.as_str()),
            "{what} contains patient data (national id or name no. {i} of the messages' patients)"
        );
    }
}
