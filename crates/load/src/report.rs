//! What a run measured, and how it is shown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Share of failed requests above which the run counts as failed (exit 1).
pub const MAX_FAILURE_RATIO: f64 = 0.01;

/// Whether an HTTP status is a durable answer from the gateway: the message
/// is stored (2xx: accepted or replayed; 422: rejected but stored).
pub fn is_acknowledged(status: u16) -> bool {
    (200..300).contains(&status) || status == 422
}

/// The `p`-th percentile (0 < p <= 100) of `sorted` by nearest rank; 0 for
/// no samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// From latencies in microseconds (any order).
    pub fn from_micros(mut micros: Vec<u64>) -> Latency {
        micros.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(percentile(&micros, 50.0)),
            p90: ms(percentile(&micros, 90.0)),
            p95: ms(percentile(&micros, 95.0)),
            p99: ms(percentile(&micros, 99.0)),
            max: ms(micros.last().copied().unwrap_or(0)),
        }
    }
}

/// The figures of one run, warm-up excluded. Field names are stable: scripts
/// read the JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Requests sent in the measured window (answered or not).
    pub requests: u64,
    /// Answers that mean the message is stored: 2xx and 422.
    pub acknowledged: u64,
    /// Answers by HTTP status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection refused or reset, timeout,
    /// body not read to the end).
    pub errors: u64,
    /// `errors` by kind (`connect`, `timeout`, `body`, `request`).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first such error's message, to see what went wrong.
    pub first_error: Option<String>,
    /// Requests that failed: any answer but 2xx/422, plus `errors`.
    pub failed: u64,
    /// Seconds from the end of warm-up to the last measured answer.
    pub elapsed_s: f64,
    /// `acknowledged` per second.
    pub throughput_ack_per_s: f64,
    /// HTTP answers of any status per second.
    pub throughput_per_s: f64,
    /// Latency from sending the request to having read the whole answer, over
    /// all HTTP answers (errors excluded).
    pub latency_ms: Latency,
    pub concurrency: usize,
    /// Requests made during warm-up, not in any figure above.
    pub warmup_requests: u64,
}

impl Report {
    /// True when more than 1% of the requests failed, or none was made.
    pub fn failed_run(&self) -> bool {
        self.requests == 0 || self.failed as f64 > self.requests as f64 * MAX_FAILURE_RATIO
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "requests     {} in {:.2} s ({} clients; {} warm-up requests not counted)",
            self.requests, self.elapsed_s, self.concurrency, self.warmup_requests
        );
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        let _ = writeln!(
            s,
            "answers      {}",
            if statuses.is_empty() {
                "none".to_string()
            } else {
                statuses.join(", ")
            }
        );
        let _ = write!(s, "errors       {}", self.errors);
        if !self.errors_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            let _ = write!(s, " ({})", kinds.join(", "));
        }
        let _ = writeln!(s);
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "first error  {e}");
        }
        let _ = writeln!(
            s,
            "acknowledged {} ({:.1} msg/s durably acknowledged, {:.1} answers/s)",
            self.acknowledged, self.throughput_ack_per_s, self.throughput_per_s
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "latency ms   p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p95, l.p99, l.max
        );
        let ratio = if self.requests == 0 {
            0.0
        } else {
            self.failed as f64 * 100.0 / self.requests as f64
        };
        let _ = writeln!(
            s,
            "result       {} ({} failed, {:.2}%; more than {}% fails the run)",
            if self.failed_run() { "FAILED" } else { "ok" },
            self.failed,
            ratio,
            MAX_FAILURE_RATIO * 100.0
        );
        s
    }
}

/// Per-second rate, 0 for an empty window.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.1), 1);
        assert_eq!(percentile(&[], 99.0), 0);
        assert_eq!(percentile(&[7], 50.0), 7);
        assert_eq!(percentile(&[7], 99.0), 7);
        // 10 samples: p99 is the largest, p90 the ninth.
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 99.0), 10);
        assert_eq!(percentile(&v, 90.0), 9);
        assert_eq!(percentile(&v, 95.0), 10);
    }

    #[test]
    fn latency_sorts_and_converts_to_ms() {
        let l = Latency::from_micros(vec![3000, 1000, 2000, 50_500]);
        assert_eq!(l.p50, 2.0);
        assert_eq!(l.max, 50.5);
        assert_eq!(l.p99, 50.5);
        assert_eq!(Latency::from_micros(vec![]).max, 0.0);
    }

    #[test]
    fn acknowledged_statuses() {
        for s in [200, 201, 202, 422] {
            assert!(is_acknowledged(s), "{s}");
        }
        for s in [400, 401, 403, 409, 413, 500, 503] {
            assert!(!is_acknowledged(s), "{s}");
        }
    }

    fn report(requests: u64, failed: u64) -> Report {
        Report {
            requests,
            acknowledged: requests - failed,
            by_status: BTreeMap::new(),
            errors: 0,
            errors_by_kind: BTreeMap::new(),
            first_error: None,
            failed,
            elapsed_s: 1.0,
            throughput_ack_per_s: 0.0,
            throughput_per_s: 0.0,
            latency_ms: Latency::from_micros(vec![]),
            concurrency: 1,
            warmup_requests: 0,
        }
    }

    #[test]
    fn one_percent_failures_is_still_ok() {
        assert!(!report(1000, 10).failed_run());
        assert!(report(1000, 11).failed_run());
        assert!(report(0, 0).failed_run());
    }

    #[test]
    fn json_field_names_are_stable() {
        let v: serde_json::Value = serde_json::from_str(&report(10, 1).to_json()).unwrap();
        for key in [
            "requests",
            "acknowledged",
            "by_status",
            "errors",
            "elapsed_s",
            "throughput_ack_per_s",
            "throughput_per_s",
            "latency_ms",
            "concurrency",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        for key in ["p50", "p90", "p95", "p99", "max"] {
            assert!(v["latency_ms"].get(key).is_some(), "{key}");
        }
    }
}
