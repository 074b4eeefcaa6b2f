//! The message model and the findings language.
//!
//! Pure: no IO, no clock, no global state.

pub mod findings;

pub use findings::{from_xml_error, Category, Finding, Lang, Severity, Verdict};
