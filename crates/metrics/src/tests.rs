use super::*;

/// Splits a sample line into name, labels and value (the tests' reader of
/// what [`Text`] writes; label values here have no spaces or commas).
fn sample(line: &str) -> (String, Vec<(String, String)>, String) {
    let (series, value) = line.rsplit_once(' ').expect("name and value");
    let (name, labels) = match series.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("label=value");
            (
                k.to_owned(),
                v.trim_matches('"').to_owned(), // no escapes in these tests
            )
        })
        .collect();
    (name.to_owned(), labels, value.to_owned())
}

#[test]
fn a_family_finds_each_combination_and_refuses_values_outside_its_sets() {
    let f: Family<Counter> = Family::of(
        &["type", "verdict"],
        &[&["A", "B", "other"], &["accepted", "rejected"]],
        Counter::new,
    );
    f.get(&["B", "rejected"]).expect("listed").inc();
    f.get(&["other", "accepted"]).expect("listed").add(3);
    assert!(f.get(&["C", "accepted"]).is_none());
    assert!(f.get(&["A"]).is_none());
    assert!(f.get(&["A", "accepted", "x"]).is_none());
    let seen: Vec<(Vec<&str>, u64)> = f.iter().map(|(v, c)| (v, c.get())).collect();
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[0], (vec!["A", "accepted"], 0));
    assert_eq!(seen[3], (vec!["B", "rejected"], 1));
    assert_eq!(seen[4], (vec!["other", "accepted"], 3));
}

#[test]
fn histogram_buckets_are_cumulative_and_count_the_rest_as_inf() {
    static BOUNDS: [f64; 3] = [0.01, 0.1, 1.0];
    let h = Histogram::new(&BOUNDS);
    for v in [0.005, 0.01, 0.05, 0.5, 2.0, 3.0] {
        h.observe(v);
    }
    let s = h.snapshot();
    assert_eq!(s.buckets, vec![(0.01, 2), (0.1, 3), (1.0, 4)]);
    assert_eq!(s.count, 6);
    assert!((s.sum - 5.565).abs() < 1e-9, "{}", s.sum);

    let mut t = Text::new();
    t.histogram("x_seconds", "Time.", &h);
    let text = t.finish();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# HELP x_seconds Time.");
    assert_eq!(lines[1], "# TYPE x_seconds histogram");
    assert_eq!(lines[2], "x_seconds_bucket{le=\"0.01\"} 2");
    assert_eq!(lines[5], "x_seconds_bucket{le=\"+Inf\"} 6");
    assert!(lines[6].starts_with("x_seconds_sum 5.56"));
    assert_eq!(lines[7], "x_seconds_count 6");
}

#[test]
fn text_escapes_label_values_and_help() {
    let mut t = Text::new();
    t.header("a_total", Kind::Counter, "Back\\slash and\nnewline.");
    t.sample("a_total", &[("l", "q\"uote\\n\nx")], 1.0);
    t.gauge("g", "G.", f64::INFINITY);
    let text = t.finish();
    assert_eq!(
        text,
        "# HELP a_total Back\\\\slash and\\nnewline.\n# TYPE a_total counter\n\
         a_total{l=\"q\\\"uote\\\\n\\nx\"} 1\n# HELP g G.\n# TYPE g gauge\ng +Inf\n"
    );
}

#[test]
fn counters_skip_zero_series_when_asked_and_every_line_reads_back() {
    let f: Family<Counter> = Family::of(&["outcome"], &[&["ok", "retry"]], Counter::new);
    f.get(&["retry"]).expect("listed").add(2);
    let mut t = Text::new();
    t.counters("d_total", "D.", &f, false);
    t.counters("e_total", "E.", &f, true);
    t.gauges(
        "q",
        "Q.",
        &["receiver_her"],
        vec![(vec!["5078"], 3.0), (vec!["59"], 0.5)],
    );
    let text = t.finish();
    let samples: Vec<_> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(sample)
        .collect();
    let want = [
        ("d_total", "ok", "0"),
        ("d_total", "retry", "2"),
        ("e_total", "retry", "2"),
        ("q", "5078", "3"),
        ("q", "59", "0.5"),
    ];
    assert_eq!(samples.len(), want.len(), "{text}");
    for ((name, labels, value), (n, l, v)) in samples.iter().zip(want) {
        assert_eq!(
            (name.as_str(), labels[0].1.as_str(), value.as_str()),
            (n, l, v)
        );
    }
}

#[test]
fn names_are_checked() {
    assert!(valid_metric_name("overgang_intake_messages_total"));
    assert!(!valid_metric_name("9x"));
    assert!(!valid_metric_name("a-b"));
    assert!(valid_label_name("receiver_her"));
    assert!(!valid_label_name("__name"));
    assert!(!valid_label_name("le-x"));
    assert_eq!(format_value(0.005), "0.005");
    assert_eq!(format_value(f64::NAN), "NaN");
    assert_eq!(format_value(42.0), "42");
}
