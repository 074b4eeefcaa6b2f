//! Throughput of the validate stage over the 22 official PLO v1.6 examples.
//!
//! Reads the examples from `../shared/standards/examples/plo-1.6/` (never
//! copied into the repository) and panics when they are missing. One thread,
//! so every figure is per core.
//!
//! Groups:
//! - `corpus`: all 22 messages per iteration through `Validator::validate`
//!   (parse + schema-level validation), reported as bytes/s and, in a second
//!   run of the same work, as messages/s (elements = messages);
//! - `corpus-parse`: the same 22 messages through the XML reader only, to
//!   separate reading from validation;
//! - `corpus-check`: parse + schema-level validation only (what
//!   `xmllint --schema` does, so the figure to set beside it);
//! - `stage/schema`, `stage/model`, `stage/rules`: schema validation,
//!   `Message::read` and the whole default rule catalogue on documents
//!   parsed (and read) beforehand, to see what each stage costs alone;
//! - `corpus-quickxml`: the same 22 messages through a bare quick-xml
//!   namespace-resolving event loop (attributes iterated, no tree, no
//!   checks): the floor any reader built on quick-xml can reach here;
//! - `message`: each message on its own, bytes/s.
//!
//! Run: `cargo bench -p overgang-validate --bench corpus -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use overgang_validate::{Options, Validator};
use std::hint::black_box;
use std::path::PathBuf;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/standards/examples/plo-1.6"
    ));
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the standards are missing: {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let name = p
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).expect("read example");
            (name, bytes)
        })
        .collect();
    v.sort();
    assert_eq!(v.len(), 22, "expected 22 examples in {}", dir.display());
    v
}

fn bench(c: &mut Criterion) {
    let msgs = corpus();
    let total: u64 = msgs.iter().map(|(_, b)| b.len() as u64).sum();
    let validator = Validator::new(Options::default()).expect("validator");
    let options = Options::default();

    // Sanity: the corpus is what we think it is, and report what the
    // validator says about it (a stub finds nothing).
    let findings: usize = msgs
        .iter()
        .map(|(_, b)| validator.validate(b).findings.len())
        .sum();
    eprintln!(
        "corpus: {} messages, {total} bytes; {findings} findings over the corpus",
        msgs.len()
    );

    let validate_all = |v: &Validator| {
        for (_, b) in &msgs {
            black_box(v.validate(black_box(b)));
        }
    };

    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("validate/bytes", |b| b.iter(|| validate_all(&validator)));
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("validate/messages", |b| b.iter(|| validate_all(&validator)));
    g.finish();

    let mut g = c.benchmark_group("corpus-parse");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("parse/bytes", |b| {
        b.iter(|| {
            for (_, m) in &msgs {
                let _ = black_box(overgang_xml::parse(black_box(m), &options.limits));
            }
        })
    });
    g.finish();

    let schemas = validator.schemas();
    let mut g = c.benchmark_group("corpus-check");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("parse+schema/bytes", |b| {
        b.iter(|| {
            for (_, m) in &msgs {
                if let Ok(doc) = overgang_xml::parse(black_box(m), &options.limits) {
                    black_box(schemas.validate(&doc));
                }
            }
        })
    });
    g.finish();

    let docs: Vec<overgang_xml::Document> = msgs
        .iter()
        .map(|(_, m)| overgang_xml::parse(m, &options.limits).expect("the examples parse"))
        .collect();
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("schema", |b| {
        b.iter(|| {
            for d in &docs {
                black_box(schemas.validate(black_box(d)));
            }
        })
    });
    g.bench_function("model", |b| {
        b.iter(|| {
            for d in &docs {
                black_box(overgang_model::Message::read(black_box(d)));
            }
        })
    });
    let messages: Vec<overgang_model::Message> =
        docs.iter().map(overgang_model::Message::read).collect();
    let rules = validator.rules();
    g.bench_function("rules", |b| {
        b.iter(|| {
            for (d, m) in docs.iter().zip(&messages) {
                let path_of = |n: overgang_xml::Node<'_>| schemas.path_of(n);
                black_box(rules.evaluate(&overgang_rules::Input {
                    doc: d,
                    message: m,
                    baselines: &overgang_rules::NoBaselines,
                    path_of: &path_of,
                }));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("corpus-quickxml");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("events/bytes", |b| {
        b.iter(|| {
            for (_, m) in &msgs {
                black_box(quickxml_events(black_box(m)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("message");
    for (name, m) in &msgs {
        g.throughput(Throughput::Bytes(m.len() as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| black_box(validator.validate(black_box(m))))
        });
    }
    g.finish();
}

/// Counts events and attributes with quick-xml's namespace-resolving reader.
fn quickxml_events(input: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut r = quick_xml::NsReader::from_reader(input);
    let mut n = 0;
    loop {
        match r.read_resolved_event() {
            Ok((_, Event::Eof)) | Err(_) => break,
            Ok((_, Event::Start(e))) | Ok((_, Event::Empty(e))) => {
                n += 1 + e.attributes().filter(|a| a.is_ok()).count();
            }
            Ok(_) => n += 1,
        }
    }
    n
}

criterion_group!(benches, bench);
criterion_main!(benches);
