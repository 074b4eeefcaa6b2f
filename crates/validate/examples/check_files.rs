//! The xmllint-comparable command: reads each file named on the command line,
//! parses it and validates it against the schemas (no model, no rules), and
//! prints only the names of invalid files, like `xmllint --noout --schema`.
//! `scripts/bench-xmllint.sh` times it beside xmllint with the same method.
fn main() {
    let schemas = overgang_schema::SchemaSet::builtin().expect("profiles");
    let limits = overgang_xml::Limits::default();
    let mut bad = 0;
    for p in std::env::args().skip(1) {
        let bytes = std::fs::read(&p).expect("read");
        let ok = match overgang_xml::parse(&bytes, &limits) {
            Ok(doc) => schemas.validate(&doc).is_empty(),
            Err(_) => false,
        };
        if !ok {
            println!("{p} fails to validate");
            bad += 1;
        }
    }
    std::process::exit(i32::from(bad > 0));
}
