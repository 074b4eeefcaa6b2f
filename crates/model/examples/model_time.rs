//! Times `Message::read` alone on documents parsed beforehand:
//! `cargo run --release -p overgang-model --example model_time -- N FILES…`
//! (also the program to run under `valgrind --tool=callgrind`).
use std::time::Instant;
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let limits = overgang_xml::Limits::default();
    let docs: Vec<overgang_xml::Document> = args
        .map(|p| overgang_xml::parse(&std::fs::read(p).expect("read"), &limits).expect("parse"))
        .collect();
    let t = Instant::now();
    let mut units = 0;
    for _ in 0..n {
        for d in &docs {
            let m = overgang_model::Message::read(d);
            units += m.plo.map(|p| p.units.len()).unwrap_or(0);
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!("{:.2} µs/msg ({units})", s / (n * docs.len()) as f64 * 1e6);
}
