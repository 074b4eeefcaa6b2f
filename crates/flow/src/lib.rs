//! Patient flow: turns per-message [`Fact`]s into patient journeys.
//!
//! - [`fact_of`] reads what the flow needs from one message (no names, no
//!   national ids: the patient is the gateway's keyed hash);
//! - [`stays`] groups facts into [`Stay`]s (one patient at one hospital,
//!   admission to discharge or death), applying cancellations and changes;
//! - [`overdue`] checks the expected messages of [`FlowConfig`] against the
//!   stays at a given `now`;
//! - [`board`] lists the patients declared ready for discharge with their
//!   days waiting and the municipality's liability; [`board_csv`] exports it;
//! - [`derived_baseline`] finds the habitual functional level from earlier
//!   assessments.
//!
//! Pure: no IO, no clock (`now` is a parameter), no global state. See
//! `docs/FLOW.md` for the rules.

mod baseline;
mod board;
mod config;
mod fact;
mod stay;
pub mod time;
mod watch;

pub use baseline::{derived_baseline, DatedBy, DerivedLevel};
pub use board::{board, board_csv, count_days, BoardRow};
pub use config::{
    parse_deadline, Agreement, Condition, ConfigError, Deadline, FlowConfig, From, Rule,
    RuleOverride, StayEvent, Trigger,
};
pub use fact::{fact_of, AssessmentSource, Fact, FactAssessment, FactEvent, FactInput, HerRef};
pub use stay::{
    stays, Disposition, Flow, PeriodEnd, Placement, ReadyPeriod, Role, Side, Stay, StayMessage,
    StayState, AFTER_END_GRACE_MS, SAME_ADMISSION_MS,
};
pub use watch::{overdue, Overdue, OverdueStatus};

#[cfg(test)]
mod tests;
