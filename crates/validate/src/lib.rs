//! The validate stage: from the bytes a sender posted to a [`Report`] —
//! what message it is, its findings, and the verdict.
//!
//! It ties the pure stages together: the hardened reader ([`overgang_xml`]),
//! schema-level validation against the message profiles ([`overgang_schema`]),
//! and (next) the completeness rules. Pure: no IO, no clock.

use overgang_model::{from_xml_error, Finding, Verdict};
use overgang_schema::{SchemaError, SchemaSet};
use overgang_xml::{Document, Limits};

/// Errors building a [`Validator`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("message profiles: {0}")]
    Schema(#[from] SchemaError),
}

/// Settings for a [`Validator`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub limits: Limits,
}

/// Compiled once, used for every message; cheap to share between threads.
pub struct Validator {
    schemas: SchemaSet,
    options: Options,
}

/// What the gateway knows about one message after validation.
#[derive(Debug)]
pub struct Report {
    /// `MsgInfo/MsgId`, when it could be read.
    pub msg_id: Option<String>,
    /// `MsgInfo/Type/@V`, when it could be read.
    pub msg_type: Option<String>,
    /// The standard and version of the main document, e.g. `PLO 1.6`.
    pub standard: Option<String>,
    pub findings: Vec<Finding>,
    pub verdict: Verdict,
    /// The parsed document, when the input was well-formed.
    pub document: Option<Document>,
}

const MSGHEAD_NS: &str = "http://www.kith.no/xmlstds/msghead/2006-05-24";

impl Validator {
    pub fn new(options: Options) -> Result<Validator, Error> {
        Ok(Validator {
            schemas: SchemaSet::builtin()?,
            options,
        })
    }

    pub fn schemas(&self) -> &SchemaSet {
        &self.schemas
    }

    /// Reads and validates one message.
    pub fn validate(&self, bytes: &[u8]) -> Report {
        let doc = match overgang_xml::parse(bytes, &self.options.limits) {
            Ok(d) => d,
            Err(e) => {
                let findings = vec![from_xml_error(&e)];
                return Report {
                    msg_id: None,
                    msg_type: None,
                    standard: None,
                    verdict: Verdict::of(&findings),
                    findings,
                    document: None,
                };
            }
        };
        let findings = self.schemas.validate(&doc);
        let (msg_id, msg_type) = envelope_ids(&doc);
        let standard = None;
        Report {
            msg_id,
            msg_type,
            standard,
            verdict: Verdict::of(&findings),
            findings,
            document: Some(doc),
        }
    }
}

fn envelope_ids(doc: &Document) -> (Option<String>, Option<String>) {
    let root = doc.root();
    if !root.is(MSGHEAD_NS, "MsgHead") {
        return (None, None);
    }
    let Some(info) = root.child(MSGHEAD_NS, "MsgInfo") else {
        return (None, None);
    };
    let id = info
        .child(MSGHEAD_NS, "MsgId")
        .map(|n| n.text().trim().to_owned());
    let ty = info
        .child(MSGHEAD_NS, "Type")
        .and_then(|n| n.attr("V"))
        .map(|v| v.trim().to_owned());
    (id, ty)
}
