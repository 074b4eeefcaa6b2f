//! Times the whole validate stage (read, schema, model, rules):
//! `cargo run --release -p overgang-validate --example validate_time -- N FILES…`
//! (also the program to run under `valgrind --tool=callgrind`).
use std::time::Instant;
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let v = overgang_validate::Validator::new(Default::default()).expect("validator");
    let files: Vec<Vec<u8>> = args.map(|p| std::fs::read(p).expect("read")).collect();
    let t = Instant::now();
    let mut findings = 0;
    for _ in 0..n {
        for f in &files {
            findings += v.validate(f).findings.len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:.2} µs/msg, {} findings per pass",
        s / (n * files.len()) as f64 * 1e6,
        findings / n
    );
}
