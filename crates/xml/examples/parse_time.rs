//! Times the reader alone over files: `cargo run --release -p overgang-xml --example parse_time -- N FILES…`
use std::time::Instant;
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let files: Vec<Vec<u8>> = args.map(|p| std::fs::read(p).expect("read")).collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let t = Instant::now();
    let mut elements = 0;
    for _ in 0..n {
        for f in &files {
            let d = overgang_xml::parse(f, &Default::default()).expect("parse");
            elements += d.len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    let msgs = (n * files.len()) as f64;
    println!(
        "{:.1} µs/msg, {:.1} MB/s, {} elements/msg",
        s / msgs * 1e6,
        (n * bytes) as f64 / s / 1e6,
        elements / (n * files.len())
    );
}
