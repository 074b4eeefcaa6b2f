//! Schema-level validation against Overgang's message profiles.
//!
//! The profiles in `schemas/profiles/` (derived from the official XSDs by
//! `xsd2profile`, format in `docs/PROFILES.md`) are embedded at build time and
//! compiled once by [`SchemaSet::builtin`] into interned names, typed
//! declarations and one Glushkov automaton per content model. Validation
//! walks the document once and aims for the same verdict as libxml2 with the
//! official XSDs. Findings use the codes `SCH001`… documented in
//! `docs/FINDINGS.md`.
//!
//! The crate is pure: no IO, no clock, no global state.

mod compile;
mod datatypes;
mod profile;
mod regex;
mod validate;

/// The XML Schema regular expression engine the profiles use, for other
/// pure stages (the completeness rules) that need the same pattern syntax.
pub use regex::Regex;

#[cfg(test)]
mod tests;

use overgang_model::Finding;
use overgang_xml::{Document, Node};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/profiles.rs"));
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{file}:{line}: {message}")]
    Profile {
        file: String,
        line: u32,
        message: String,
    },
}

/// The compiled profiles: every message type and version Overgang knows.
#[derive(Debug)]
pub struct SchemaSet {
    schema: compile::Schema,
}

impl SchemaSet {
    /// Compiles the profiles shipped in `schemas/profiles/` (embedded at build time).
    pub fn builtin() -> Result<SchemaSet, SchemaError> {
        Self::from_profiles(embedded::PROFILES.iter().copied())
    }

    /// Compiles a set of profiles given as `(file name, text)` pairs.
    pub fn from_profiles<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SchemaSet, SchemaError> {
        let mut parsed = Vec::new();
        for (name, text) in files {
            parsed.push(profile::parse(name, text)?);
        }
        let schema = compile::Compiler::new(&parsed)?.run()?;
        Ok(SchemaSet { schema })
    }

    /// The names of the embedded profile files.
    pub fn builtin_profile_names() -> impl Iterator<Item = &'static str> {
        embedded::PROFILES.iter().map(|(n, _)| *n)
    }

    /// Validates a document; findings are in category `schema`, severity
    /// `error`, AppRec error `T02`.
    pub fn validate(&self, doc: &Document) -> Vec<Finding> {
        let mut run = validate::Run::new(self, doc);
        run.run();
        run.findings
    }

    /// True when the schema allows `node` to repeat where it stands, so its
    /// path step carries an index. Elements the schema cannot place fall back
    /// to "repeats in this document"; document roots (also those inside a
    /// wildcard, such as the PLO document in `Content`) never carry one.
    pub fn is_repeatable(&self, node: Node<'_>) -> bool {
        validate::repeat_chain(self, node)
            .last()
            .map(|(_, _, r)| *r)
            .unwrap_or(false)
    }

    /// The absolute path of `node` with indexes where the schema allows repetition.
    pub fn path_of(&self, node: Node<'_>) -> String {
        let mut out = String::new();
        for (name, index, repeat) in validate::repeat_chain(self, node) {
            out.push('/');
            out.push_str(&name);
            if repeat {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
        }
        out
    }
}
