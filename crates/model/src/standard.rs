//! Which standard a document follows, told by its root element's namespace.
//!
//! The namespaces are the `targetNamespace`s of the official XSDs.

use std::fmt;

/// MsgHead v1.2.
pub const NS_MSGHEAD: &str = "http://www.kith.no/xmlstds/msghead/2006-05-24";
/// AppRec v1.0.
pub const NS_APPREC_V1_0: &str = "http://www.kith.no/xmlstds/apprec/2004-11-21";
/// AppRec v1.1.
pub const NS_APPREC_V1_1: &str = "http://www.kith.no/xmlstds/apprec/2012-02-15";
/// Dialogmelding v1.0.
pub const NS_DIALOG_V1_0: &str = "http://www.kith.no/xmlstds/dialog/2006-10-11";
/// Dialogmelding v1.1.
pub const NS_DIALOG_V1_1: &str = "http://www.kith.no/xmlstds/dialog/2013-01-23";
/// EPJ cave/critical information.
pub const NS_EPJ1: &str = "http://www.kith.no/xmlstds/epj/epj1/2008-02-20";
/// EPJ journal notes (Journaltekst).
pub const NS_EPJ2: &str = "http://www.kith.no/xmlstds/epj/epj2/2008-02-20";
/// EPJ medication (Legemiddelinfo).
pub const NS_EPJ3: &str = "http://www.kith.no/xmlstds/epj/epj3/2008-02-20";
/// Shared components (Person, Organisation, HealthcareProfessional).
pub const NS_FK1: &str = "http://www.kith.no/xmlstds/felleskomponent1";
/// PLO shared components, per version.
pub const NS_PO_KOMPONENT_V1_5: &str = "http://www.kith.no/xmlstds/po/poKomponent/2009-06-30";
pub const NS_PO_KOMPONENT_V1_6: &str = "http://www.kith.no/xmlstds/po/poKomponent/2012-04-01";
pub const NS_PO_KOMPONENT_V2_0: &str = "http://ehelse.no/xmlstds/po/poKomponent/2017-11-30";

/// The namespace one table of the Helseopplysninger spec gives; the schema
/// says `.../HelseopplysningerVedSoknad/2012-04-01`. Accepted leniently.
pub const NS_HELSEOPPLYSNINGER_SPEC_VARIANT: &str =
    "http://www.kith.no/xmlstds/po/Helseopplysninger/2012-04-01";

/// True for every PLO namespace (any version, documents and components).
pub fn is_plo_namespace(ns: &str) -> bool {
    ns.starts_with("http://www.kith.no/xmlstds/po/")
        || ns.starts_with("http://ehelse.no/xmlstds/po/")
}

/// A family of documents (one XSD root across versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Innleggelsesrapport,
    HelseopplysningerVedSoknad,
    TverrfagligEpikrise,
    Pasientlogistikk,
    /// Root element `Konsultasjon`.
    HelseopplysningerTilLege,
    OrienteringOmTjenestetilbud,
    /// Root element `OverforingMedisinskeOpplysninger`.
    MedisinskeOpplysninger,
    MeldingFravar,
    HelseopplysningerSaksbehandling,
    Sammenfatning,
    Dialogmelding,
    AppRec,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Innleggelsesrapport => "Innleggelsesrapport",
            Family::HelseopplysningerVedSoknad => "HelseopplysningerVedSoknad",
            Family::TverrfagligEpikrise => "TverrfagligEpikrise",
            Family::Pasientlogistikk => "Pasientlogistikk",
            Family::HelseopplysningerTilLege => "HelseopplysningerTilLege",
            Family::OrienteringOmTjenestetilbud => "OrienteringOmTjenestetilbud",
            Family::MedisinskeOpplysninger => "MedisinskeOpplysninger",
            Family::MeldingFravar => "MeldingFravar",
            Family::HelseopplysningerSaksbehandling => "HelseopplysningerSaksbehandling",
            Family::Sammenfatning => "Sammenfatning",
            Family::Dialogmelding => "Dialogmelding",
            Family::AppRec => "AppRec",
        }
    }

    /// True for the PLO (pleie- og omsorg) documents.
    pub fn is_plo(self) -> bool {
        !matches!(self, Family::Dialogmelding | Family::AppRec)
    }
}

/// A version of a standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    V1_0,
    V1_1,
    V1_5,
    V1_6,
    V2_0,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_5 => "1.5",
            Version::V1_6 => "1.6",
            Version::V2_0 => "2.0",
        }
    }
}

/// A document standard: family and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Standard {
    pub family: Family,
    pub version: Version,
}

impl fmt::Display for Standard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.family.is_plo() { "PLO " } else { "" };
        write!(
            f,
            "{prefix}{} v{}",
            self.family.as_str(),
            self.version.as_str()
        )
    }
}

/// How a document's namespace matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsMatch {
    /// The official schema namespace.
    Official,
    /// A known variant from the spec text, not the schema (accept, warn).
    SpecVariant,
}

/// A recognised root: the standard, the root element the XSD declares, and
/// how the namespace matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recognised {
    pub standard: Standard,
    /// The root element name the XSD declares for this namespace.
    pub expected_root: &'static str,
    /// True when the document's root has that name.
    pub root_matches: bool,
    pub ns_match: NsMatch,
}

use Family as F;
use Version as V;

/// (namespace, root element, family, version), from the XSDs' targetNamespace.
pub const KNOWN: &[(&str, &str, Family, Version)] = &[
    // PLO v1.6
    (
        "http://www.kith.no/xmlstds/po/Innleggelsesrapport/2012-04-01",
        "Innleggelsesrapport",
        F::Innleggelsesrapport,
        V::V1_6,
    ),
    (
        "http://www.kith.no/xmlstds/po/HelseopplysningerVedSoknad/2012-04-01",
        "HelseopplysningerVedSoknad",
        F::HelseopplysningerVedSoknad,
        V::V1_6,
    ),
    (
        "http://www.kith.no/xmlstds/po/TverrfagligEpikrise/2012-04-01",
        "TverrfagligEpikrise",
        F::TverrfagligEpikrise,
        V::V1_6,
    ),
    (
        "http://www.kith.no/xmlstds/po/Pasientlogistikk/2012-04-01",
        "Pasientlogistikk",
        F::Pasientlogistikk,
        V::V1_6,
    ),
    (
        "http://www.kith.no/xmlstds/po/HelseopplysningerTilLege/2012-04-01",
        "Konsultasjon",
        F::HelseopplysningerTilLege,
        V::V1_6,
    ),
    (
        "http://www.kith.no/xmlstds/po/OrienteringOmTjenestetilbud/2012-04-01",
        "OrienteringOmTjenestetilbud",
        F::OrienteringOmTjenestetilbud,
        V::V1_6,
    ),
    (
        "http://www.kith.no/xmlstds/po/MedisinskeOpplysninger/2012-04-01",
        "OverforingMedisinskeOpplysninger",
        F::MedisinskeOpplysninger,
        V::V1_6,
    ),
    // PLO v1.5
    (
        "http://www.kith.no/xmlstds/po/Innleggelsesrapport/2009-06-30",
        "Innleggelsesrapport",
        F::Innleggelsesrapport,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/HelseopplysningerVedSoknad/2009-06-30",
        "HelseopplysningerVedSoknad",
        F::HelseopplysningerVedSoknad,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/TverrfagligEpikrise/2009-06-30",
        "TverrfagligEpikrise",
        F::TverrfagligEpikrise,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/Pasientlogistikk/2009-06-30",
        "Pasientlogistikk",
        F::Pasientlogistikk,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/Konsultasjon/2009-06-30",
        "Konsultasjon",
        F::HelseopplysningerTilLege,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/OrienteringOmTjenestetilbud/2009-06-30",
        "OrienteringOmTjenestetilbud",
        F::OrienteringOmTjenestetilbud,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/OverforingMedisinskeOpplysninger/2009-06-30",
        "OverforingMedisinskeOpplysninger",
        F::MedisinskeOpplysninger,
        V::V1_5,
    ),
    (
        "http://www.kith.no/xmlstds/po/MeldingFravar/2009-06-30",
        "MeldingFravar",
        F::MeldingFravar,
        V::V1_5,
    ),
    // PLO v2.0
    (
        "http://ehelse.no/xmlstds/po/Pasientlogistikk/2016-05-30",
        "Pasientlogistikk",
        F::Pasientlogistikk,
        V::V2_0,
    ),
    (
        "http://ehelse.no/xmlstds/po/HelseopplysningerSaksbehandling/2016-05-30",
        "HelseopplysningerSaksbehandling",
        F::HelseopplysningerSaksbehandling,
        V::V2_0,
    ),
    (
        "http://ehelse.no/xmlstds/po/Sammenfatning/2016-05-30",
        "Sammenfatning",
        F::Sammenfatning,
        V::V2_0,
    ),
    // Dialogmelding
    (NS_DIALOG_V1_0, "Dialogmelding", F::Dialogmelding, V::V1_0),
    (NS_DIALOG_V1_1, "Dialogmelding", F::Dialogmelding, V::V1_1),
    // AppRec
    (NS_APPREC_V1_0, "AppRec", F::AppRec, V::V1_0),
    (NS_APPREC_V1_1, "AppRec", F::AppRec, V::V1_1),
];

impl Standard {
    /// Recognises a document by its root element's namespace and local name.
    pub fn recognise(ns: &str, local: &str) -> Option<Recognised> {
        let (ns, ns_match) = if ns == NS_HELSEOPPLYSNINGER_SPEC_VARIANT {
            (
                "http://www.kith.no/xmlstds/po/HelseopplysningerVedSoknad/2012-04-01",
                NsMatch::SpecVariant,
            )
        } else {
            (ns, NsMatch::Official)
        };
        KNOWN
            .iter()
            .find(|(n, ..)| *n == ns)
            .map(|&(_, root, family, version)| Recognised {
                standard: Standard { family, version },
                expected_root: root,
                root_matches: root == local,
                ns_match,
            })
    }

    /// The official namespace of this standard, if it exists.
    pub fn namespace(self) -> Option<&'static str> {
        KNOWN
            .iter()
            .find(|(_, _, f, v)| *f == self.family && *v == self.version)
            .map(|(n, ..)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_namespace_round_trips() {
        for (ns, root, f, v) in KNOWN {
            let r = Standard::recognise(ns, root).unwrap();
            assert_eq!(
                r.standard,
                Standard {
                    family: *f,
                    version: *v
                }
            );
            assert!(r.root_matches);
            assert_eq!(r.standard.namespace(), Some(*ns));
        }
    }

    #[test]
    fn helseopplysninger_spec_variant_is_recognised_as_such() {
        let r = Standard::recognise(
            NS_HELSEOPPLYSNINGER_SPEC_VARIANT,
            "HelseopplysningerVedSoknad",
        )
        .unwrap();
        assert_eq!(r.ns_match, NsMatch::SpecVariant);
        assert_eq!(r.standard.family, Family::HelseopplysningerVedSoknad);
        assert_eq!(r.standard.version, Version::V1_6);
    }
}
