//! Times the default rule catalogue alone on messages parsed and read
//! beforehand: `cargo run --release -p overgang-rules --example rules_time -- N FILES…`
//! (also the program to run under `valgrind --tool=callgrind`).
use std::time::Instant;
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    // `OVERGANG_DISABLE=ID,ID` switches rules off, to see what each costs.
    let off: String = std::env::var("OVERGANG_DISABLE")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|id| format!("[[override]]\nid = \"{id}\"\nenabled = false\n"))
        .collect();
    let cat = overgang_rules::Catalogue::builtin_with([("disable.toml", off.as_str())])
        .expect("catalogue");
    let limits = overgang_xml::Limits::default();
    let docs: Vec<overgang_xml::Document> = args
        .map(|p| overgang_xml::parse(&std::fs::read(p).expect("read"), &limits).expect("parse"))
        .collect();
    let messages: Vec<overgang_model::Message> =
        docs.iter().map(overgang_model::Message::read).collect();
    let path_of = |n: overgang_xml::Node<'_>| n.path();
    let t = Instant::now();
    let mut findings = 0;
    for _ in 0..n {
        for (d, m) in docs.iter().zip(&messages) {
            findings += cat
                .evaluate(&overgang_rules::Input {
                    doc: d,
                    message: m,
                    baselines: &overgang_rules::NoBaselines,
                    path_of: &path_of,
                })
                .len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:.2} µs/msg, {} findings per pass",
        s / (n * docs.len()) as f64 * 1e6,
        findings / n
    );
}
