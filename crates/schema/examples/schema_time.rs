//! Times schema-level validation alone on documents parsed beforehand:
//! `cargo run --release -p overgang-schema --example schema_time -- N FILES…`
//! (also the program to run under `valgrind --tool=callgrind`).
use std::time::Instant;
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let set = overgang_schema::SchemaSet::builtin().expect("profiles");
    let limits = overgang_xml::Limits::default();
    let docs: Vec<overgang_xml::Document> = args
        .map(|p| overgang_xml::parse(&std::fs::read(p).expect("read"), &limits).expect("parse"))
        .collect();
    let t = Instant::now();
    let mut findings = 0;
    for _ in 0..n {
        for d in &docs {
            findings += set.validate(d).len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:.2} µs/msg, {} findings",
        s / (n * docs.len()) as f64 * 1e6,
        findings
    );
}
