//! The address registry: the parties the gateway knows, by HER-id.
//!
//! Loaded from a TOML file of `[[party]]` tables (an export of the national
//! address register is the real source). Intake uses it to name parties;
//! routing (next stage) adds endpoints and accepted message types.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

use crate::ServerError;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub her: String,
    pub name: String,
    /// `organisation`, `hospital_service`, `municipal_service`, `gp`, …
    pub kind: String,
    /// The HER-id of the organisation this service or person belongs to.
    #[serde(default)]
    pub parent: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    party: Vec<Party>,
}

#[derive(Clone, Debug, Default)]
pub struct Registry {
    parties: HashMap<String, Party>,
}

impl Registry {
    pub fn load(path: &Path) -> Result<Registry, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::Config {
            place: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Registry::parse(&text).map_err(|reason| ServerError::Config {
            place: path.display().to_string(),
            reason,
        })
    }

    pub fn parse(text: &str) -> Result<Registry, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut parties = HashMap::new();
        for p in file.party {
            if p.her.trim().is_empty() || !p.her.trim().bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("party {:?}: her must be digits", p.name));
            }
            let her = p.her.trim().to_owned();
            if parties.insert(her.clone(), p).is_some() {
                return Err(format!("HER-id {her} is listed twice"));
            }
        }
        for p in parties.values() {
            if let Some(parent) = &p.parent {
                if !parties.contains_key(parent.trim()) {
                    return Err(format!("party {}: parent {parent} is not listed", p.her));
                }
            }
        }
        Ok(Registry { parties })
    }

    pub fn get(&self, her: &str) -> Option<&Party> {
        self.parties.get(her.trim())
    }

    pub fn len(&self) -> usize {
        self.parties.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parties_and_checks_parents() {
        let r = Registry::parse(
            "[[party]]\nher = \"59\"\nname = \"Sykehus\"\nkind = \"organisation\"\n\
             [[party]]\nher = \"91090\"\nname = \"PLO\"\nkind = \"hospital_service\"\nparent = \"59\"\n",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.get("91090").unwrap().parent.as_deref(), Some("59"));
        assert!(Registry::parse(
            "[[party]]\nher = \"1\"\nname = \"a\"\nkind = \"x\"\nparent = \"2\"\n"
        )
        .is_err());
        assert!(Registry::parse("[[party]]\nher = \"x1\"\nname = \"a\"\nkind = \"x\"\n").is_err());
    }

    #[test]
    fn the_demo_registry_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry/demo.toml");
        let r = Registry::load(&path).unwrap();
        assert!(r.get("59").is_some());
    }
}
