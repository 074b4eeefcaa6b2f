//! Patient flow in the gateway: each accepted message's flow fact, written
//! with the message at intake, and the flow (stays, overdue messages, the
//! discharge-ready board) computed from the stored facts on request by the
//! pure `overgang-flow` crate. docs/FLOW.md.

use overgang_model::Message;
use overgang_registry::{Kind, Registry};
use overgang_store::Store;

use crate::ServerError;

/// What the gateway knows of patient flow beside the store.
pub struct FlowState {
    pub config: overgang_flow::FlowConfig,
    /// See `config::FlowSettings::window_days`.
    pub window_days: u64,
}

/// The flow rules Overgang ships (`config/flow.toml`).
pub const BUILTIN_RULES: &str = include_str!("../../../config/flow.toml");

/// Reads the flow rules: the configured file, or the built-in ones.
pub fn load_config(
    settings: &crate::config::FlowSettings,
) -> Result<overgang_flow::FlowConfig, ServerError> {
    let (place, text) = match &settings.file {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| ServerError::Config {
                place: p.display().to_string(),
                reason: e.to_string(),
            })?,
        ),
        None => (
            "the built-in flow rules".to_owned(),
            BUILTIN_RULES.to_owned(),
        ),
    };
    overgang_flow::FlowConfig::parse(&text).map_err(|e| ServerError::Config {
        place,
        reason: e.to_string(),
    })
}

/// The flow at `now`: the stays of the facts stored in the window (or of
/// one patient's facts), with each message's positive AppRec time.
pub async fn current<S: Store>(
    store: &S,
    now: i64,
    window_days: u64,
    patient_key: Option<String>,
) -> Result<(Vec<overgang_flow::Fact>, overgang_flow::Flow), overgang_store::StoreError> {
    let since = now.saturating_sub(
        i64::try_from(window_days)
            .unwrap_or(i64::MAX / 86_400_000)
            .saturating_mul(86_400_000),
    );
    let rows = store.flow_facts(since, patient_key).await?;
    let facts: Vec<overgang_flow::Fact> = rows
        .into_iter()
        .filter_map(|r| {
            let mut f: overgang_flow::Fact = serde_json::from_str(&r.fact).ok()?;
            f.positive_apprec_at = r.positive_apprec_at;
            Some(f)
        })
        .collect();
    let flow = overgang_flow::stays(&facts);
    Ok((facts, flow))
}

/// The flow fact of an accepted message, as JSON: the municipalities from
/// the registry, whether a GP is among the receivers routing chose.
pub fn fact_json(
    registry: &Registry,
    message: &Message,
    message_id: &str,
    received_at: i64,
    patient_key: Option<String>,
    receivers: &[String],
) -> Option<String> {
    let municipality = |her: Option<&str>| {
        her.and_then(|h| registry.organisation(h))
            .and_then(|p| p.municipality.clone())
    };
    let is_gp = |her: &str| registry.get(her).is_some_and(|p| p.kind == Kind::Gp);
    let receiver_her = message.receiver().and_then(|r| r.most_specific_her_id());
    let input = overgang_flow::FactInput {
        message_id: message_id.to_owned(),
        received_at,
        patient_key,
        sender_municipality: municipality(message.sender().and_then(|s| s.her_id())),
        receiver_municipality: municipality(message.receiver().and_then(|r| r.her_id())),
        copy_to_gp: (!registry.is_empty()).then(|| receivers.iter().any(|h| is_gp(h))),
        receiver_is_gp: receiver_her.is_some_and(is_gp),
        positive_apprec_at: None,
    };
    serde_json::to_string(&overgang_flow::fact_of(message, input)).ok()
}
