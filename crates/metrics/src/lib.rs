//! Metrics in Prometheus' text exposition format (version 0.0.4).
//!
//! A handful of primitives, enough for the gateway and nothing more:
//!
//! - [`Counter`]: a monotonic count (an atomic);
//! - [`Histogram`]: observations in fixed buckets, with their sum;
//! - [`Family`]: one counter or histogram per combination of label values,
//!   each label's values a small **closed set** given at construction (so
//!   the series are allocated once, never grow, and a label can never carry
//!   a value nobody listed — patient data cannot slip in through a label);
//! - [`Text`]: writes `# HELP`, `# TYPE` and sample lines, escaping label
//!   values and help texts as the format requires.
//!
//! Gauges that are computed when scraped (queue depths, sizes) need no
//! primitive: the owner writes them with [`Text::gauge`] or
//! [`Text::gauges`].
//!
//! Pure: atomics and strings; no IO, no clock, no global registry. The owner
//! of the metrics decides what to observe and when to render.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonic count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Observations counted in fixed buckets (`le`: less than or equal to the
/// bound), with their count and sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, and one for the observations above the last (`+Inf`).
    /// Not cumulative; [`Histogram::snapshot`] adds them up.
    counts: Box<[AtomicU64]>,
    /// The sum of the observations, as `f64` bits.
    sum: AtomicU64,
}

/// What a histogram holds at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// `(bound, observations <= bound)`, cumulative, without `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    /// A histogram with these upper bounds, which must be increasing.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "histogram bounds must increase"
        );
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// Seconds from a [`std::time::Duration`].
    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0u64;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (b, c) in self.bounds.iter().zip(self.counts.iter()) {
            total = total.saturating_add(c.load(Ordering::Relaxed));
            buckets.push((*b, total));
        }
        let last = self.counts.last().map_or(0, |c| c.load(Ordering::Relaxed));
        HistogramSnapshot {
            buckets,
            count: total.saturating_add(last),
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

/// One metric per combination of label values, every label's values a
/// closed set given at construction.
#[derive(Debug)]
pub struct Family<M> {
    labels: &'static [&'static str],
    values: Vec<Vec<String>>,
    series: Box<[M]>,
}

impl<M> Family<M> {
    /// `labels[i]` takes the values `values[i]`; `make` makes each series.
    pub fn new(
        labels: &'static [&'static str],
        values: Vec<Vec<String>>,
        make: impl Fn() -> M,
    ) -> Family<M> {
        debug_assert_eq!(labels.len(), values.len(), "a value set per label");
        debug_assert!(labels.iter().all(|l| valid_label_name(l)));
        let n = values.iter().map(Vec::len).product::<usize>();
        Family {
            labels,
            values,
            series: (0..n).map(|_| make()).collect(),
        }
    }

    /// [`Family::new`] from `&'static str` sets.
    pub fn of(
        labels: &'static [&'static str],
        values: &[&[&str]],
        make: impl Fn() -> M,
    ) -> Family<M> {
        let values = values
            .iter()
            .map(|set| set.iter().map(|v| (*v).to_owned()).collect())
            .collect();
        Family::new(labels, values, make)
    }

    /// The series of these label values (in the order of the labels);
    /// `None` when a value is not in its label's set.
    pub fn get(&self, values: &[&str]) -> Option<&M> {
        if values.len() != self.labels.len() {
            return None;
        }
        let mut index = 0usize;
        for (set, v) in self.values.iter().zip(values) {
            let pos = set.iter().position(|s| s == v)?;
            index = index * set.len() + pos;
        }
        self.series.get(index)
    }

    pub fn labels(&self) -> &'static [&'static str] {
        self.labels
    }

    /// Every series with its label values, in the order of the sets.
    pub fn iter(&self) -> impl Iterator<Item = (Vec<&str>, &M)> + '_ {
        self.series.iter().enumerate().map(move |(mut i, m)| {
            let mut vals = vec![""; self.values.len()];
            for (k, set) in self.values.iter().enumerate().rev() {
                let n = set.len().max(1);
                vals[k] = set.get(i % n).map_or("", String::as_str);
                i /= n;
            }
            (vals, m)
        })
    }
}

/// The metric types the text format names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The content type of what [`Text`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes the text exposition format.
#[derive(Debug, Default)]
pub struct Text {
    out: String,
}

/// Whether `name` is a valid metric name.
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// A sample value as the format writes it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl Text {
    pub fn new() -> Text {
        Text::default()
    }

    /// `# HELP` and `# TYPE` of a metric; its samples follow.
    pub fn header(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_metric_name(name), "metric name {name}");
        let mut h = String::with_capacity(help.len());
        for c in help.chars() {
            match c {
                '\\' => h.push_str("\\\\"),
                '\n' => h.push_str("\\n"),
                c => h.push(c),
            }
        }
        let _ = writeln!(self.out, "# HELP {name} {h}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample line: `name{label="value",…} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(valid_label_name(k), "label name {k}");
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }

    pub fn counter(&mut self, name: &str, help: &str, c: &Counter) {
        self.header(name, Kind::Counter, help);
        self.sample(name, &[], c.get() as f64);
    }

    /// A family of counters. With `skip_zero`, series never counted are
    /// left out (for families over large sets, such as message types).
    pub fn counters(&mut self, name: &str, help: &str, f: &Family<Counter>, skip_zero: bool) {
        self.header(name, Kind::Counter, help);
        for (vals, c) in f.iter() {
            let n = c.get();
            if skip_zero && n == 0 {
                continue;
            }
            let labels: Vec<(&str, &str)> = f.labels().iter().copied().zip(vals).collect();
            self.sample(name, &labels, n as f64);
        }
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, Kind::Gauge, help);
        self.sample(name, &[], value);
    }

    /// A gauge with labels: one sample per row, each row's values in the
    /// order of `labels`.
    pub fn gauges<'a>(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        rows: impl IntoIterator<Item = (Vec<&'a str>, f64)>,
    ) {
        self.header(name, Kind::Gauge, help);
        for (vals, v) in rows {
            let pairs: Vec<(&str, &str)> = labels.iter().copied().zip(vals).collect();
            self.sample(name, &pairs, v);
        }
    }

    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, Kind::Histogram, help);
        self.histogram_samples(name, &[], h);
    }

    /// A family of histograms (`skip_zero`: leave out those without
    /// observations).
    pub fn histograms(&mut self, name: &str, help: &str, f: &Family<Histogram>, skip_zero: bool) {
        self.header(name, Kind::Histogram, help);
        for (vals, h) in f.iter() {
            let labels: Vec<(&str, &str)> = f.labels().iter().copied().zip(vals).collect();
            if skip_zero && h.snapshot().count == 0 {
                continue;
            }
            self.histogram_samples(name, &labels, h);
        }
    }

    fn histogram_samples(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let s = h.snapshot();
        let bucket = format!("{name}_bucket");
        for (bound, n) in &s.buckets {
            let le = format_value(*bound);
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, *n as f64);
        }
        let mut l = labels.to_vec();
        l.push(("le", "+Inf"));
        self.sample(&bucket, &l, s.count as f64);
        self.sample(&format!("{name}_sum"), labels, s.sum);
        self.sample(&format!("{name}_count"), labels, s.count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests;
