//! The message model and the findings language.
//!
//! [`Message::read`] turns a parsed document (a MsgHead envelope, or a bare
//! AppRec or PLO document) into typed values: the envelope, the documents, the
//! main document's [`Standard`], what later stages need from a PLO document
//! ([`PloDocument`]), a received AppRec ([`AppRecInfo`]) and Overgang's
//! habitual-baseline extension ([`FunctionalProfile`]). Reading never
//! fails; what is missing is `None` or empty, so the model also serves
//! rejected messages when their AppRec is built.
//!
//! Patient data (names, national ids, birth date, free text) sits in
//! [`Sensitive`], whose `Debug` prints `<redacted>`. For logs use
//! [`Message::summary`].
//!
//! Pure: no IO, no clock, no global state.

pub mod apprec;
pub mod common;
pub mod extension;
pub mod findings;
pub mod message;
pub mod plo;
pub mod standard;

pub use apprec::{AppRecInfo, AppRecParty, AppRecStatus, OriginalMsgId};
pub use common::{her_ident, Coded, Ident, Loc, LocatedCode, Sensitive};
pub use extension::{
    is_funksjonsprofil_namespace, FunctionalProfile, ProfileAssessment, ProfileVariable,
    FUNKSJONSPROFIL_NS, FUNKSJONSPROFIL_ROOT,
};
pub use findings::{from_xml_error, Category, Finding, Lang, Severity, Verdict};
pub use message::{
    ConversationRef, DocumentInfo, HealthcareProfessional, HerPair, Message, MsgHead, Organisation,
    OtherReceiver, Party, Patient, PatientIdent, Summary,
};
pub use plo::{
    AssessedFunction, ContactPerson, ContactUnit, Event, FunctionalAssessment, JournalText,
    LogisticsNotice, OverallAssessment, PloDocument, Relative, Responsible,
};
pub use standard::{Family, NsMatch, Recognised, Standard, Version};
