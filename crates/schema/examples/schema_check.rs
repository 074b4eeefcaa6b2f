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
    for path in std::env::args().skip(1) {
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
