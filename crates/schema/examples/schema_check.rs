//! Developer aid: validates XML files and prints one line per file
//! (`valid` / `invalid`) followed by the findings.
//! Usage: `cargo run -p overgang-schema --example schema_check -- FILE...`

fn main() {
    let set = match overgang_schema::SchemaSet::builtin() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("profiles: {e}");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--time") {
        // Rough timing: parse + validate every file N times.
        let n: usize = args.get(1).and_then(|x| x.parse().ok()).unwrap_or(100);
        let files: Vec<Vec<u8>> = args[2..]
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .collect();
        let limits = overgang_xml::Limits::default();
        let t = std::time::Instant::now();
        let mut parse_only = std::time::Duration::ZERO;
        let mut count = 0usize;
        for _ in 0..n {
            for b in &files {
                let t0 = std::time::Instant::now();
                let Ok(doc) = overgang_xml::parse(b, &limits) else {
                    continue;
                };
                parse_only += t0.elapsed();
                count += set.validate(&doc).len();
            }
        }
        let total = t.elapsed();
        let msgs = (n * files.len()).max(1) as f64;
        println!(
            "{} messages: {:.1} µs/message (parse {:.1} µs, validate {:.1} µs), {count} findings",
            n * files.len(),
            total.as_secs_f64() * 1e6 / msgs,
            parse_only.as_secs_f64() * 1e6 / msgs,
            (total - parse_only).as_secs_f64() * 1e6 / msgs
        );
        return;
    }
    for path in args {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                println!("{path}\terror\t{e}");
                continue;
            }
        };
        match overgang_xml::parse(&bytes, &overgang_xml::Limits::default()) {
            Err(e) => println!("{path}\tnot-xml\t{e}"),
            Ok(doc) => {
                let f = set.validate(&doc);
                println!("{path}\t{}", if f.is_empty() { "valid" } else { "invalid" });
                for x in f {
                    println!(
                        "  {} {}:{} {} | {}",
                        x.code, x.line, x.column, x.path, x.text_en
                    );
                }
            }
        }
    }
}
