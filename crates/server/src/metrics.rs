//! `GET /metrics`: the gateway's metrics in Prometheus' text format.
//!
//! Counted as things happen: intake by message type and verdict, intake
//! refusals by reason, validation time, and (in the delivery stage,
//! [`overgang_deliver::metrics`]) attempts by outcome, their duration and
//! the receivers' AppRecs by status. Read from the store when scraped:
//! each destination's queue (depth, oldest age, in flight, dead letters,
//! overdue AppRecs) and the store's size on disk.
//!
//! Labels never carry patient data nor message ids: message types come
//! from code list 8279 (anything else is `other`), verdicts, reasons,
//! outcomes and statuses from closed sets, destinations are receiver
//! HER-ids (organisations and their units, from the address registry).
//! The patient-flow gauge `overgang_flow_overdue` is computed at scrape from
//! the stored flow facts: its labels are the flow rules' ids (a closed set,
//! from the configuration) and municipality numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use overgang_deliver::metrics::DeliveryMetrics;
use overgang_metrics::{Counter, Family, Histogram, Text};
use overgang_store::QueueGauges;

/// Verdicts, as the `verdict` label names them.
pub const VERDICTS: [&str; 3] = ["accepted", "accepted_with_warnings", "rejected"];

/// The `type` label of a message type outside code list 8279 (or none).
pub const OTHER_TYPE: &str = "other";

/// Why intake refused a request without storing it, as the `reason` label
/// names it: its HTTP status in docs/API.md.
pub const REFUSALS: [&str; 8] = [
    "unauthenticated",    // 401
    "too_large",          // 413
    "bad_body",           // 400: the body could not be read
    "not_xml",            // 400: AppRec T01
    "sender_not_allowed", // 403
    "msgid_conflict",     // 409: AppRec E10
    "store_unavailable",  // 503
    "internal",           // 500
];

/// Upper bounds of the validation-time buckets, in seconds: most messages
/// take well under a millisecond; a 35 MiB one takes seconds.
pub const VALIDATION_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Destinations remembered at most (their gauges stay, at 0, once their
/// queue is empty, so that a drained queue reads 0 rather than nothing).
const MAX_REMEMBERED: usize = 10_000;

/// Overdue expected messages (docs/FLOW.md), counted at scrape.
#[derive(Clone, Debug, Default)]
pub struct FlowOverdue {
    /// Every rule id of the flow rules in force.
    pub rules: Vec<String>,
    /// The municipalities (labels) of the stays in the window.
    pub municipalities: BTreeSet<String>,
    /// Items with status `overdue`, by (rule, municipality label).
    pub counts: BTreeMap<(String, String), u64>,
}

/// The `municipality` label: a municipality number (4 digits), else
/// `unknown`.
pub fn municipality_label(m: Option<&str>) -> String {
    match m {
        Some(m) if overgang_registry::is_municipality_number(m) => m.to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// By `type` (code list 8279, or [`OTHER_TYPE`]) and `verdict`.
    intake: Family<Counter>,
    /// By `reason` ([`REFUSALS`]).
    refusals: Family<Counter>,
    validation_seconds: Histogram,
    /// The delivery stage's (it counts into these).
    pub delivery: Arc<DeliveryMetrics>,
    /// When the process started, seconds since the epoch.
    start_time: f64,
    /// Destinations seen in the queues since the start.
    receivers: Mutex<BTreeSet<String>>,
}

impl Metrics {
    /// Message types are the codes of list 8279 in `code_lists`.
    pub fn new(code_lists: &overgang_codelists::CodeLists, start_millis: i64) -> Metrics {
        let mut types: Vec<String> = code_lists
            .get(8279)
            .map(|l| l.iter().map(|(code, _)| code.to_owned()).collect())
            .unwrap_or_default();
        types.push(OTHER_TYPE.to_owned());
        Metrics {
            intake: Family::new(
                &["type", "verdict"],
                vec![types, VERDICTS.iter().map(|v| (*v).to_owned()).collect()],
                Counter::new,
            ),
            refusals: Family::of(&["reason"], &[&REFUSALS], Counter::new),
            validation_seconds: Histogram::new(&VALIDATION_BUCKETS),
            delivery: Arc::new(DeliveryMetrics::new()),
            start_time: start_millis as f64 / 1000.0,
            receivers: Mutex::new(BTreeSet::new()),
        }
    }

    /// Counts a message the validate stage judged (routing included).
    pub fn intake(&self, msg_type: Option<&str>, verdict: &str) {
        let t = msg_type.map(str::trim).unwrap_or(OTHER_TYPE);
        let counter = self
            .intake
            .get(&[t, verdict])
            .or_else(|| self.intake.get(&[OTHER_TYPE, verdict]));
        if let Some(c) = counter {
            c.inc();
        }
    }

    /// Counts a refusal (one of [`REFUSALS`]).
    pub fn refused(&self, reason: &str) {
        if let Some(c) = self.refusals.get(&[reason]) {
            c.inc();
        }
    }

    pub fn validated(&self, took: Duration) {
        self.validation_seconds.observe_duration(took);
    }

    /// The exposition text: the counters, and the store's gauges when the
    /// store answered (`None`: `overgang_store_up` is 0 and the queue
    /// gauges are left out).
    pub fn render(&self, store: Option<&QueueGauges>, now_millis: i64) -> String {
        self.render_with(store, None, now_millis)
    }

    /// [`Metrics::render`], with the overdue expected messages of patient
    /// flow when they could be counted.
    pub fn render_with(
        &self,
        store: Option<&QueueGauges>,
        flow: Option<&FlowOverdue>,
        now_millis: i64,
    ) -> String {
        let mut t = Text::new();
        t.header(
            "overgang_build_info",
            overgang_metrics::Kind::Gauge,
            "The gateway's version; always 1.",
        );
        t.sample(
            "overgang_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        t.gauge(
            "overgang_process_start_time_seconds",
            "When the gateway started, in seconds since the Unix epoch.",
            self.start_time,
        );
        t.counters(
            "overgang_intake_messages_total",
            "Messages validated at intake, by message type (code list 8279; anything else is 'other') and verdict (after routing).",
            &self.intake,
            true,
        );
        t.counters(
            "overgang_intake_refusals_total",
            "Intake requests refused without storing the message, by reason (401 unauthenticated, 413 too_large, 400 bad_body or not_xml, 403 sender_not_allowed, 409 msgid_conflict, 503 store_unavailable, 500 internal).",
            &self.refusals,
            false,
        );
        t.histogram(
            "overgang_validation_duration_seconds",
            "Time to validate one message (reading, schema and rules).",
            &self.validation_seconds,
        );
        self.delivery.render(&mut t);
        t.gauge(
            "overgang_store_up",
            "Whether the store answered this scrape (1) or not (0).",
            if store.is_some() { 1.0 } else { 0.0 },
        );
        if let Some(g) = store {
            self.render_store(&mut t, g, now_millis);
        }
        if let Some(f) = flow {
            render_flow(&mut t, f);
        }
        t.finish()
    }

    fn render_store(&self, t: &mut Text, g: &QueueGauges, now_millis: i64) {
        let names: Vec<String> = {
            let mut known = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
            for r in &g.receivers {
                if known.len() < MAX_REMEMBERED || known.contains(&r.receiver_her) {
                    known.insert(r.receiver_her.clone());
                }
            }
            let mut all: BTreeSet<String> = known.clone();
            all.extend(g.receivers.iter().map(|r| r.receiver_her.clone()));
            all.into_iter().collect()
        };
        let row = |her: &str| g.receivers.iter().find(|r| r.receiver_her == her);
        let label = &["receiver_her"];
        let rows = |f: &dyn Fn(&overgang_store::ReceiverGauges) -> f64| -> Vec<(Vec<&str>, f64)> {
            names
                .iter()
                .map(|her| (vec![her.as_str()], row(her).map_or(0.0, f)))
                .collect()
        };
        t.gauges(
            "overgang_delivery_queue_depth",
            "Deliveries queued per destination (receiver HER-id), waiting for an attempt.",
            label,
            rows(&|r| r.queued as f64),
        );
        t.gauges(
            "overgang_delivery_oldest_queued_age_seconds",
            "Age of the oldest queued delivery per destination (since it was routed); 0 when none is queued.",
            label,
            rows(&|r| {
                r.oldest_queued_at
                    .map_or(0.0, |at| (now_millis.saturating_sub(at)).max(0) as f64 / 1000.0)
            }),
        );
        t.gauges(
            "overgang_delivery_in_flight",
            "Deliveries per destination with an attempt under way.",
            label,
            rows(&|r| r.in_flight as f64),
        );
        t.gauges(
            "overgang_delivery_dead_letters",
            "Dead letters per destination: deliveries that gave up and wait for a person.",
            label,
            rows(&|r| r.dead_letters as f64),
        );
        t.gauges(
            "overgang_delivery_apprecs_overdue",
            "Deliveries per destination delivered without an AppRec past the configured wait (missing receipts).",
            label,
            rows(&|r| r.apprecs_overdue as f64),
        );
        t.gauge(
            "overgang_store_size_bytes",
            "Size of the store on disk: the database file and its write-ahead log.",
            g.size_bytes as f64,
        );
    }
}

/// `overgang_flow_overdue{rule, municipality}`: every rule for every
/// municipality with a stay in the window (0 when nothing is overdue).
fn render_flow(t: &mut Text, f: &FlowOverdue) {
    let mut keys: BTreeSet<(&str, &str)> = BTreeSet::new();
    for r in &f.rules {
        for m in &f.municipalities {
            keys.insert((r.as_str(), m.as_str()));
        }
    }
    for (r, m) in f.counts.keys() {
        keys.insert((r.as_str(), m.as_str()));
    }
    t.gauges(
        "overgang_flow_overdue",
        "Expected messages of patient flow past their deadline and not arrived, by rule (config/flow.toml) and municipality number (docs/FLOW.md).",
        &["rule", "municipality"],
        keys.into_iter().map(|(r, m)| {
            let n = f
                .counts
                .get(&(r.to_owned(), m.to_owned()))
                .copied()
                .unwrap_or(0);
            (vec![r, m], n as f64)
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use overgang_store::ReceiverGauges;

    fn metrics() -> Metrics {
        Metrics::new(&overgang_codelists::CodeLists::builtin(), 1_800_000_000_000)
    }

    #[test]
    fn unknown_types_are_other_and_unlisted_reasons_are_ignored() {
        let m = metrics();
        m.intake(Some("LOG_INNLAGT"), "accepted");
        m.intake(Some("12345678901"), "rejected");
        m.intake(None, "rejected");
        m.refused("too_large");
        m.refused("Kari Nordmann");
        let text = m.render(None, 0);
        assert!(text.contains(
            "overgang_intake_messages_total{type=\"LOG_INNLAGT\",verdict=\"accepted\"} 1\n"
        ));
        assert!(text
            .contains("overgang_intake_messages_total{type=\"other\",verdict=\"rejected\"} 2\n"));
        assert!(!text.contains("12345678901") && !text.contains("Kari"));
        assert!(text.contains("overgang_intake_refusals_total{reason=\"too_large\"} 1\n"));
        assert!(text.contains("overgang_store_up 0\n"));
        assert!(text.contains("overgang_build_info{version=\""));
        assert!(text.contains("overgang_process_start_time_seconds 1800000000\n"));
        assert!(!text.contains("overgang_delivery_queue_depth"));
    }

    #[test]
    fn overdue_flow_is_counted_by_rule_and_municipality() {
        let m = metrics();
        let mut f = FlowOverdue {
            rules: vec!["ready_answer".into(), "admission_report".into()],
            ..FlowOverdue::default()
        };
        f.municipalities.insert("3428".into());
        f.counts.insert(("ready_answer".into(), "3428".into()), 2);
        let text = m.render_with(None, Some(&f), 0);
        assert!(
            text.contains("overgang_flow_overdue{rule=\"ready_answer\",municipality=\"3428\"} 2\n")
        );
        assert!(text.contains(
            "overgang_flow_overdue{rule=\"admission_report\",municipality=\"3428\"} 0\n"
        ));
        assert_eq!(municipality_label(Some("12345678901")), "unknown");
        assert_eq!(municipality_label(None), "unknown");
    }

    #[test]
    fn a_destination_whose_queue_empties_reads_zero() {
        let m = metrics();
        let g = QueueGauges {
            receivers: vec![ReceiverGauges {
                receiver_her: "5078".into(),
                queued: 3,
                oldest_queued_at: Some(1000),
                in_flight: 1,
                oldest_in_flight_at: Some(2000),
                dead_letters: 2,
                apprecs_overdue: 0,
            }],
            size_bytes: 4096,
        };
        let text = m.render(Some(&g), 11_500);
        assert!(text.contains("overgang_delivery_queue_depth{receiver_her=\"5078\"} 3\n"));
        assert!(text
            .contains("overgang_delivery_oldest_queued_age_seconds{receiver_her=\"5078\"} 10.5\n"));
        assert!(text.contains("overgang_delivery_in_flight{receiver_her=\"5078\"} 1\n"));
        assert!(text.contains("overgang_delivery_dead_letters{receiver_her=\"5078\"} 2\n"));
        assert!(text.contains("overgang_store_size_bytes 4096\n"));
        assert!(text.contains("overgang_store_up 1\n"));
        let text = m.render(Some(&QueueGauges::default()), 20_000);
        assert!(text.contains("overgang_delivery_queue_depth{receiver_her=\"5078\"} 0\n"));
        assert!(
            text.contains("overgang_delivery_oldest_queued_age_seconds{receiver_her=\"5078\"} 0\n")
        );
    }
}
