//! `config/flow.toml`: expected messages and their deadlines, per-agreement
//! overrides, and the day rates for discharge-ready patients.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

const MINUTE_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("flow config is not valid TOML: {0}")]
    Toml(String),
    #[error("rule {rule}: deadline {value:?} is not a duration (\"90m\", \"24h\", \"1d\") or \"same_day\"")]
    Deadline { rule: String, value: String },
    #[error("rule {rule}: give exactly one of on_message or on_event")]
    Trigger { rule: String },
    #[error("rule {rule}: unknown event {value:?} (admitted, ready, discharged, died)")]
    Event { rule: String, value: String },
    #[error("rule {rule}: unknown side {value:?} (municipality, hospital, any)")]
    Side { rule: String, value: String },
    #[error("rule {rule}: unknown condition {value:?} (municipal_services, ready_declared)")]
    Condition { rule: String, value: String },
    #[error("rule {rule}: expect lists no message type")]
    Expect { rule: String },
    #[error("rule id {0:?} is used twice")]
    Duplicate(String),
    #[error("agreement for municipality {municipality}: no rule {rule:?}")]
    AgreementRule { municipality: String, rule: String },
    #[error("day rate year {0:?} is not a year")]
    Year(String),
    #[error("day rate for {0} is negative")]
    Rate(i64),
}

/// A milestone of a stay that can trigger a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StayEvent {
    Admitted,
    /// Every ready declaration (each ready period's start).
    Ready,
    Discharged,
    Died,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Each effective message of this type (or notice name) in the stay, at
    /// its receipt by the gateway.
    Message(String),
    /// A milestone, at the time the messages give for it.
    Event(StayEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Milliseconds after the trigger.
    After(i64),
    /// Before midnight (Norwegian time) ending the trigger's day.
    SameDay,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    Municipality,
    Hospital,
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The stay has an effective `LOG_INNLAGT`: the hospital sends it only
    /// for patients who already receive municipal services.
    MunicipalServices,
    /// The patient has been declared ready for discharge in this stay.
    ReadyDeclared,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub description: Option<String>,
    pub trigger: Trigger,
    /// Any of these message types (or notice names) satisfies the rule.
    pub expect: Vec<String>,
    pub from: From,
    pub deadline: Deadline,
    pub condition: Option<Condition>,
    /// The expected message must go to the patient's GP (as receiver or copy).
    pub to_gp: bool,
    /// A message received before the trigger (but after the previous
    /// trigger of the same rule) also satisfies it.
    pub accept_before: bool,
    pub enabled: bool,
}

/// Overrides for one cooperation agreement (a municipality with its hospital).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    pub municipality: String,
    pub name: Option<String>,
    pub overrides: Vec<RuleOverride>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOverride {
    pub rule: String,
    pub deadline: Option<Deadline>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    pub rules: Vec<Rule>,
    pub agreements: Vec<Agreement>,
    /// NOK per day, by calendar year.
    pub day_rates: BTreeMap<i64, i64>,
    /// How far back (days before admission) an assessment may provide a
    /// derived habitual baseline.
    pub baseline_lookback_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    day_rates: BTreeMap<String, i64>,
    #[serde(default = "default_lookback")]
    baseline_lookback_days: u32,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    agreement: Vec<RawAgreement>,
}

fn default_lookback() -> u32 {
    365
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    description: Option<String>,
    on_message: Option<String>,
    on_event: Option<String>,
    expect: Vec<String>,
    #[serde(default = "any")]
    from: String,
    within: String,
    when: Option<String>,
    #[serde(default)]
    to_gp: bool,
    #[serde(default)]
    accept_before: bool,
    #[serde(default = "yes")]
    enabled: bool,
}

fn any() -> String {
    "any".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgreement {
    municipality: String,
    name: Option<String>,
    #[serde(default)]
    rule: Vec<RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    id: String,
    within: Option<String>,
    enabled: Option<bool>,
}

/// Reads `"same_day"`, `"90m"`, `"24h"`, `"1d"`, `"2d12h"`.
pub fn parse_deadline(s: &str) -> Option<Deadline> {
    let s = s.trim();
    if s == "same_day" || s == "same day" {
        return Some(Deadline::SameDay);
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut any_unit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'm' => MINUTE_MS,
            'h' => 60 * MINUTE_MS,
            'd' => 24 * 60 * MINUTE_MS,
            _ => return None,
        };
        if num.is_empty() || num.len() > 6 {
            return None;
        }
        let n: i64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        any_unit = true;
    }
    (any_unit && num.is_empty() && total > 0).then_some(Deadline::After(total))
}

impl FlowConfig {
    pub fn parse(text: &str) -> Result<FlowConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let mut rules = Vec::new();
        let mut seen = HashSet::new();
        for r in raw.rule {
            if !seen.insert(r.id.clone()) {
                return Err(ConfigError::Duplicate(r.id));
            }
            let trigger = match (r.on_message, r.on_event) {
                (Some(m), None) if !m.trim().is_empty() => Trigger::Message(m.trim().to_owned()),
                (None, Some(e)) => Trigger::Event(match e.trim() {
                    "admitted" => StayEvent::Admitted,
                    "ready" => StayEvent::Ready,
                    "discharged" => StayEvent::Discharged,
                    "died" => StayEvent::Died,
                    _ => {
                        return Err(ConfigError::Event {
                            rule: r.id,
                            value: e,
                        })
                    }
                }),
                _ => return Err(ConfigError::Trigger { rule: r.id }),
            };
            let deadline = parse_deadline(&r.within).ok_or_else(|| ConfigError::Deadline {
                rule: r.id.clone(),
                value: r.within.clone(),
            })?;
            let from = match r.from.trim() {
                "municipality" => From::Municipality,
                "hospital" => From::Hospital,
                "any" => From::Any,
                _ => {
                    return Err(ConfigError::Side {
                        rule: r.id,
                        value: r.from,
                    })
                }
            };
            let condition = match r.when.as_deref().map(str::trim) {
                None => None,
                Some("municipal_services") => Some(Condition::MunicipalServices),
                Some("ready_declared") => Some(Condition::ReadyDeclared),
                Some(other) => {
                    return Err(ConfigError::Condition {
                        value: other.to_owned(),
                        rule: r.id,
                    })
                }
            };
            let expect: Vec<String> = r
                .expect
                .iter()
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect();
            if expect.is_empty() {
                return Err(ConfigError::Expect { rule: r.id });
            }
            rules.push(Rule {
                id: r.id,
                description: r.description,
                trigger,
                expect,
                from,
                deadline,
                condition,
                to_gp: r.to_gp,
                accept_before: r.accept_before,
                enabled: r.enabled,
            });
        }
        let mut agreements = Vec::new();
        for a in raw.agreement {
            let mut overrides = Vec::new();
            for o in a.rule {
                if !seen.contains(&o.id) {
                    return Err(ConfigError::AgreementRule {
                        municipality: a.municipality,
                        rule: o.id,
                    });
                }
                let deadline = match o.within {
                    Some(w) => Some(parse_deadline(&w).ok_or(ConfigError::Deadline {
                        rule: o.id.clone(),
                        value: w,
                    })?),
                    None => None,
                };
                overrides.push(RuleOverride {
                    rule: o.id,
                    deadline,
                    enabled: o.enabled,
                });
            }
            agreements.push(Agreement {
                municipality: a.municipality.trim().to_owned(),
                name: a.name,
                overrides,
            });
        }
        let mut day_rates = BTreeMap::new();
        for (y, rate) in raw.day_rates {
            let year: i64 = y
                .trim()
                .parse()
                .ok()
                .filter(|y| (1900..=9999).contains(y))
                .ok_or_else(|| ConfigError::Year(y.clone()))?;
            if rate < 0 {
                return Err(ConfigError::Rate(year));
            }
            day_rates.insert(year, rate);
        }
        Ok(FlowConfig {
            rules,
            agreements,
            day_rates,
            baseline_lookback_days: raw.baseline_lookback_days,
        })
    }

    /// The rules as they apply to a municipality: its agreement's overrides
    /// on top of the defaults.
    pub fn rules_for(&self, municipality: Option<&str>) -> Vec<Rule> {
        let agreement =
            municipality.and_then(|m| self.agreements.iter().find(|a| a.municipality == m));
        self.rules
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(a) = agreement {
                    for o in a.overrides.iter().filter(|o| o.rule == r.id) {
                        if let Some(d) = o.deadline {
                            r.deadline = d;
                        }
                        if let Some(e) = o.enabled {
                            r.enabled = e;
                        }
                    }
                }
                r
            })
            .collect()
    }

    /// The day rate of a year, when configured.
    pub fn day_rate(&self, year: i64) -> Option<i64> {
        self.day_rates.get(&year).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_read() {
        assert_eq!(parse_deadline("1d"), Some(Deadline::After(86_400_000)));
        assert_eq!(parse_deadline("2d12h"), Some(Deadline::After(216_000_000)));
        assert_eq!(parse_deadline("90m"), Some(Deadline::After(5_400_000)));
        assert_eq!(parse_deadline("same_day"), Some(Deadline::SameDay));
        for bad in ["", "1", "d", "1x", "0h", "1.5h", "9999999d"] {
            assert_eq!(parse_deadline(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_shipped_config_parses() {
        let text = include_str!("../../../config/flow.toml");
        let c = FlowConfig::parse(text).expect("config/flow.toml parses");
        assert_eq!(c.day_rate(2024), Some(5745));
        assert!(c.rules.iter().any(|r| r.id == "admission_report"));
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let base = "[[rule]]\nid = \"a\"\non_message = \"LOG_INNLAGT\"\nexpect = [\"INNLEGGELSESRAPPORT\"]\nwithin = \"1d\"\n";
        assert!(FlowConfig::parse(base).is_ok());
        assert!(matches!(
            FlowConfig::parse(&base.replace("1d", "soon")),
            Err(ConfigError::Deadline { .. })
        ));
        assert!(matches!(
            FlowConfig::parse(&format!("{base}{base}")),
            Err(ConfigError::Duplicate(_))
        ));
        assert!(matches!(
            FlowConfig::parse(&format!("{base}[[agreement]]\nmunicipality = \"5001\"\n[[agreement.rule]]\nid = \"b\"\nwithin = \"2d\"\n")),
            Err(ConfigError::AgreementRule { .. })
        ));
        assert!(matches!(
            FlowConfig::parse("[day_rates]\nabc = 1\n"),
            Err(ConfigError::Year(_))
        ));
        assert!(matches!(
            FlowConfig::parse("x = 1"),
            Err(ConfigError::Toml(_))
        ));
    }

    #[test]
    fn agreements_override_deadlines() {
        let text = "[[rule]]\nid = \"a\"\non_event = \"ready\"\nexpect = [\"DIALOG_NOTAT\"]\nwithin = \"1d\"\n[[agreement]]\nmunicipality = \"5001\"\n[[agreement.rule]]\nid = \"a\"\nwithin = \"4h\"\n";
        let c = FlowConfig::parse(text).expect("parses");
        assert_eq!(
            c.rules_for(Some("5001"))[0].deadline,
            Deadline::After(4 * 3_600_000)
        );
        assert_eq!(
            c.rules_for(Some("0301"))[0].deadline,
            Deadline::After(86_400_000)
        );
        assert_eq!(c.rules_for(None)[0].deadline, Deadline::After(86_400_000));
    }
}
