//! The validate stage: from the bytes a sender posted to a [`Report`] —
//! what message it is, its findings, and the verdict.
//!
//! It ties the pure stages together: the hardened reader ([`overgang_xml`]),
//! schema-level validation against the message profiles ([`overgang_schema`]),
//! and the completeness rules ([`overgang_rules`]). Pure: no IO, no clock.

use overgang_model::{from_xml_error, Finding, Message, Verdict};
use overgang_rules::{BaselineKind, Baselines, Catalogue, Input, RulesError};
use overgang_schema::{SchemaError, SchemaSet};
use overgang_xml::{Document, Limits};

/// Errors building a [`Validator`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("message profiles: {0}")]
    Schema(#[from] SchemaError),
    /// A rule file that cannot be used; its text names file, line and rule.
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// Settings for a [`Validator`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub limits: Limits,
    /// Deployment rule files `(name, text)` applied, in order, on top of the
    /// default catalogue: they add rules, change severities, disable rules.
    pub rule_files: Vec<(String, String)>,
}

/// Compiled once, used for every message; cheap to share between threads.
pub struct Validator {
    schemas: SchemaSet,
    rules: Catalogue,
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
    /// What the gateway read from the message (empty when it was not
    /// well-formed). Read leniently: it is there for rejected messages too,
    /// so their AppRec can be addressed.
    pub message: Message,
}

impl Validator {
    pub fn new(options: Options) -> Result<Validator, Error> {
        let rules = Catalogue::builtin_with(
            options
                .rule_files
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str())),
        )?;
        Ok(Validator {
            schemas: SchemaSet::builtin()?,
            rules,
            options,
        })
    }

    pub fn schemas(&self) -> &SchemaSet {
        &self.schemas
    }

    /// The effective rule catalogue.
    pub fn rules(&self) -> &Catalogue {
        &self.rules
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
                    message: Message::default(),
                };
            }
        };
        let mut findings = self.schemas.validate(&doc);
        let message = Message::read(&doc);
        let path_of = |n: overgang_xml::Node<'_>| self.schemas.path_of(n);
        findings.extend(self.rules.evaluate(&Input {
            doc: &doc,
            message: &message,
            baselines: &StatedBaselines(&message),
            path_of: &path_of,
        }));
        Report {
            msg_id: message.msg_id().map(str::to_owned),
            msg_type: message.msg_type().map(str::to_owned),
            standard: message.standard.map(|s| s.to_string()),
            verdict: Verdict::of(&findings),
            findings,
            document: Some(doc),
            message,
        }
    }
}

/// The habitual levels the sender stated in the message's Overgang
/// extension document (`Funksjonsprofil`). Levels derived from the patient's
/// earlier messages are the patient-flow stage's to add.
struct StatedBaselines<'a>(&'a Message);

impl Baselines for StatedBaselines<'_> {
    fn habitual(&self, variable: &str) -> Option<BaselineKind> {
        let v = self.0.functional_profile.as_ref()?.variable(variable)?;
        v.habitual
            .as_ref()
            .and_then(|h| h.score_on_scale())
            .map(|_| BaselineKind::Explicit)
    }

    fn any(&self) -> Option<BaselineKind> {
        let p = self.0.functional_profile.as_ref()?;
        p.variables
            .iter()
            .any(|v| {
                v.habitual
                    .as_ref()
                    .and_then(|h| h.score_on_scale())
                    .is_some()
            })
            .then_some(BaselineKind::Explicit)
    }
}
