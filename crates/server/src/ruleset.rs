//! The validator in force — message profiles and the completeness rules
//! with the deployment's rule files (`[validation] rules`) — and its
//! reloads.
//!
//! The rule files are read at start. They are read again, and a new
//! validator takes over for the messages that arrive after it, when:
//!
//! - an admin system asks (`POST /api/v1/admin/rules/reload`),
//! - the process gets SIGHUP (which reloads the registry too),
//! - another node sharing the store asked one of the above through its
//!   API ([`overgang_store::Store::reloads`]).
//!
//! A file that cannot be used (unreadable, not TOML, a rule that does not
//! compile) is refused as a whole: the validator in force stays, and the
//! error names the file, line and rule. A message being validated keeps
//! the validator it started with.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use overgang_validate::{Options, Validator};
use serde_json::{json, Value};

use crate::registry::Trigger;
use crate::ServerError;

/// The validator in force and where its rule files are.
pub struct Ruleset {
    current: RwLock<Loaded>,
    limits: overgang_xml::Limits,
    files: Vec<PathBuf>,
}

struct Loaded {
    validator: Arc<Validator>,
    /// Gateway time (ms) it took over, and why.
    at: i64,
    trigger: &'static str,
}

impl Ruleset {
    /// Reads the rule files and builds the first validator.
    pub fn load(
        limits: overgang_xml::Limits,
        files: Vec<PathBuf>,
        now: i64,
    ) -> Result<Ruleset, ServerError> {
        let validator = build(&limits, &files).map_err(|e| match e {
            BuildError::Read { file, reason } => ServerError::Config {
                place: file,
                reason,
            },
            BuildError::Validator(e) => ServerError::Validator(e),
        })?;
        Ok(Ruleset {
            current: RwLock::new(Loaded {
                validator: Arc::new(validator),
                at: now,
                trigger: "start",
            }),
            limits,
            files,
        })
    }

    /// The validator in force.
    pub fn current(&self) -> Arc<Validator> {
        match self.current.read() {
            Ok(l) => l.validator.clone(),
            Err(p) => p.into_inner().validator.clone(),
        }
    }

    /// Reads the rule files again; on success the new validator is in
    /// force and the number of its rules is returned. On failure the old
    /// one stays and the error says which file and what.
    pub fn reload(&self, trigger: Trigger, now: i64) -> Result<usize, String> {
        let validator = build(&self.limits, &self.files).map_err(|e| e.to_string())?;
        let rules = validator.rules().rules().len();
        let loaded = Loaded {
            validator: Arc::new(validator),
            at: now,
            trigger: trigger.as_str(),
        };
        match self.current.write() {
            Ok(mut l) => *l = loaded,
            Err(p) => *p.into_inner() = loaded,
        }
        tracing::info!(rules, trigger = trigger.as_str(), "rules reloaded");
        Ok(rules)
    }

    /// What the operators' API shows: rules in force, files, since when.
    pub fn status_json(&self) -> Value {
        let (rules, at, trigger) = match self.current.read() {
            Ok(l) => (l.validator.rules().rules().len(), l.at, l.trigger),
            Err(p) => {
                let l = p.into_inner();
                (l.validator.rules().rules().len(), l.at, l.trigger)
            }
        };
        json!({
            "rules": rules,
            "files": self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "loaded_at": crate::timefmt::rfc3339_millis(at),
            "trigger": trigger,
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("{file}: {reason}")]
    Read { file: String, reason: String },
    #[error(transparent)]
    Validator(#[from] overgang_validate::Error),
}

fn build(limits: &overgang_xml::Limits, files: &[PathBuf]) -> Result<Validator, BuildError> {
    let mut rule_files = Vec::with_capacity(files.len());
    for p in files {
        let text = std::fs::read_to_string(p).map_err(|e| BuildError::Read {
            file: p.display().to_string(),
            reason: e.to_string(),
        })?;
        rule_files.push((p.display().to_string(), text));
    }
    Ok(Validator::new(Options {
        limits: *limits,
        rule_files,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTRA: &str = r#"
[[rule]]
id = "LOKAL-RELOAD-01"
severity = "warning"
messages = ["INNLEGGELSESRAPPORT"]
check.present = "/mh:MsgHead/mh:MsgInfo/mh:ConversationRef"
text_nb = "Prøveregel"
text_en = "A test rule"
source = "a test of reloads"
"#;

    #[test]
    fn a_reload_puts_new_rules_in_force_and_a_bad_file_leaves_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("local.toml");
        std::fs::write(&file, "").unwrap();
        let rs = Ruleset::load(Default::default(), vec![file.clone()], 1).unwrap();
        let base = rs.current().rules().rules().len();
        assert_eq!(rs.status_json()["trigger"], "start");

        std::fs::write(&file, EXTRA).unwrap();
        assert_eq!(rs.reload(Trigger::Api, 2), Ok(base + 1));
        assert_eq!(rs.current().rules().rules().len(), base + 1);
        assert_eq!(rs.status_json()["rules"], base + 1);

        // A validator taken before a reload is kept by its holder.
        let held = rs.current();
        std::fs::write(&file, "[[rule]]\nid = \"BROKEN\"\n").unwrap();
        let err = rs.reload(Trigger::Sighup, 3).unwrap_err();
        assert!(err.contains("local.toml"), "{err}");
        assert_eq!(rs.current().rules().rules().len(), base + 1);
        assert!(Arc::ptr_eq(&held, &rs.current()), "the old validator stays");

        std::fs::remove_file(&file).unwrap();
        let err = rs.reload(Trigger::Peer, 4).unwrap_err();
        assert!(err.contains("local.toml"), "{err}");
        assert_eq!(rs.status_json()["trigger"], "admin API");
    }

    #[test]
    fn a_bad_file_at_start_is_a_configuration_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("missing.toml");
        match Ruleset::load(Default::default(), vec![file], 1) {
            Err(ServerError::Config { place, .. }) => assert!(place.contains("missing.toml")),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a missing rule file was taken"),
        }
    }
}
