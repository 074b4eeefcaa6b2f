//! Schema-level validation against Overgang's message profiles.
//!
//! SKELETON: the profile format, compiler and validator are being written
//! (issue 2). The API below is the contract other crates use.

use overgang_model::Finding;
use overgang_xml::{Document, Node};

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{file}:{line}: {message}")]
    Profile { file: String, line: u32, message: String },
}

/// The compiled profiles: every message type and version Overgang knows.
pub struct SchemaSet {}

impl SchemaSet {
    /// Compiles the profiles shipped in `schemas/profiles/` (embedded at build time).
    pub fn builtin() -> Result<SchemaSet, SchemaError> {
        Ok(SchemaSet {})
    }

    /// Validates a document; findings are in categories `schema` (and
    /// `wellformedness` for namespace-level problems).
    pub fn validate(&self, _doc: &Document) -> Vec<Finding> {
        Vec::new()
    }

    /// True when the schema allows `node` to repeat where it stands, so its
    /// path step carries an index.
    pub fn is_repeatable(&self, node: Node<'_>) -> bool {
        node.same_name_siblings() > 1
    }
}
