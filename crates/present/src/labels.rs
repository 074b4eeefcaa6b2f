//! Headings for element names, from `schemas/labels/plo.toml`.

use crate::{format::split_camel, Lang, PresentError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The labels file shipped with Overgang.
const BUILTIN: &str = include_str!("../../../schemas/labels/plo.toml");

/// Headings for element local names in bokmål and English, and the code list
/// an element's `V` comes from when the message leaves out `S`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    elements: BTreeMap<String, Label>,
}

/// One element's entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub nb: String,
    pub en: String,
    /// Volven list number.
    #[serde(default)]
    pub list: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    elements: BTreeMap<String, Label>,
}

impl Labels {
    /// Reads a labels file (format in `schemas/labels/plo.toml`'s header).
    pub fn parse(text: &str) -> Result<Labels, PresentError> {
        let file: File = toml::from_str(text).map_err(|e| PresentError::Labels(e.to_string()))?;
        for (name, l) in &file.elements {
            if !overgang_xml::is_xml_name(name) || name.contains(':') {
                return Err(PresentError::Labels(format!(
                    "«{name}» is not an element local name"
                )));
            }
            if l.nb.trim().is_empty() || l.en.trim().is_empty() {
                return Err(PresentError::Labels(format!(
                    "«{name}» needs both an nb and an en heading"
                )));
            }
        }
        Ok(Labels {
            elements: file.elements,
        })
    }

    /// The labels embedded from `schemas/labels/plo.toml`. Panics only if
    /// that file is malformed, which this crate's tests rule out.
    pub fn builtin() -> Labels {
        match Labels::parse(BUILTIN) {
            Ok(l) => l,
            Err(e) => panic!("schemas/labels/plo.toml is malformed: {e}"),
        }
    }

    /// The entry for an element local name.
    pub fn get(&self, local_name: &str) -> Option<&Label> {
        self.elements.get(local_name)
    }

    /// The heading in `lang`, if the file has one.
    pub fn label(&self, local_name: &str, lang: Lang) -> Option<&str> {
        self.get(local_name).map(|l| match lang {
            Lang::Nb => l.nb.as_str(),
            Lang::En => l.en.as_str(),
        })
    }

    /// The heading in `lang`, or the name split into words.
    pub fn heading(&self, local_name: &str, lang: Lang) -> String {
        match self.label(local_name, lang) {
            Some(l) => l.to_owned(),
            None => split_camel(local_name),
        }
    }

    /// The code list the element's value comes from when it has no `S`.
    pub fn list_of(&self, local_name: &str) -> Option<u32> {
        self.get(local_name).and_then(|l| l.list)
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Label)> + '_ {
        self.elements.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overgang_codelists::CodeLists;

    #[test]
    fn builtin_labels_parse_and_cover_the_common_elements() {
        let l = Labels::builtin();
        assert!(l.len() >= 60, "{} labels", l.len());
        assert_eq!(
            l.heading("Innleggelsesrapport", Lang::En),
            "Admission report"
        );
        assert_eq!(
            l.heading("InformasjonOmForsendelsen", Lang::Nb),
            "Om forsendelsen"
        );
        assert_eq!(
            l.heading("UkjentElementNavn", Lang::Nb),
            "Ukjent element navn"
        );
        assert_eq!(l.list_of("Slektskap"), Some(9033));
    }

    #[test]
    fn every_list_the_labels_name_is_one_we_carry() {
        let codes = CodeLists::builtin();
        for (name, l) in Labels::builtin().iter() {
            if let Some(n) = l.list {
                assert!(
                    codes.get(n).is_some(),
                    "{name} names list {n}, which we do not carry"
                );
            }
        }
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for bad in [
            "[elements]\nX = { nb = \"a\" }",
            "[elements]\nX = { nb = \"a\", en = \"\" }",
            "[elements]\n\"a b\" = { nb = \"a\", en = \"b\" }",
            "[elements]\nX = { nb = \"a\", en = \"b\", colour = 1 }",
            "[other]\n",
            "not toml",
        ] {
            assert!(
                matches!(Labels::parse(bad), Err(PresentError::Labels(_))),
                "{bad}"
            );
        }
        assert!(Labels::parse("").is_ok_and(|l| l.is_empty()));
    }
}
