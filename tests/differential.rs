//! Differential tests: Overgang's schema-level verdict against libxml2.
//!
//! The official PLO v1.6 examples (read from `../shared/standards/`, never
//! copied into the repository) are mutated deterministically
//! (`support/mutate.rs`) into a few thousand messages. Every mutant is judged
//! by `xmllint --schema all.xsd` (the official XSDs) and by
//! [`overgang_validate::Validator`]; the schema-level verdicts must agree.
//! A second test runs `overgang apprec` over the examples and a sample of the
//! mutants and checks that every AppRec it prints validates against the
//! official AppRec schemas.
//!
//! Both tests fail (they never skip) when `xmllint` or the standards folder is
//! missing.

mod support {
    pub mod corpus;
    pub mod mutate;
    pub mod tempdir;
}
use support::tempdir::TempDir;

use overgang_model::Severity;
use overgang_validate::{Options, Validator};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::mutate::{self, Mutant};

const STANDARDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/standards");
/// Files per xmllint call: well under the command-line limit with short names.
const BATCH: usize = 400;
const MIN_MUTANTS: usize = 500;

fn standards() -> PathBuf {
    let p = PathBuf::from(STANDARDS);
    assert!(
        p.join("xsd/all.xsd").is_file(),
        "the public standards are missing: expected {}/xsd/all.xsd (see ../shared/standards/README.md)",
        p.display()
    );
    p
}

fn xsd() -> PathBuf {
    standards().join("xsd/all.xsd")
}

/// The 22 official PLO v1.6 examples, as (file name, text), sorted by name.
fn seeds() -> Vec<(String, String)> {
    support::corpus::official_examples()
        .into_iter()
        .map(|(name, p)| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (name, text)
        })
        .collect()
}

/// libxml2's verdict on one file.
#[derive(Clone, Debug, Default)]
struct Xmllint {
    /// Said "validates", and neither "fails to validate" nor a parser error.
    valid: bool,
    said_valid: bool,
    said_invalid: bool,
    /// Said anything at all.
    answered: bool,
    messages: Vec<String>,
}

/// Runs xmllint over `names` (files in `dir`) in batches; verdict per name.
/// A file it could not parse gets parser errors and no verdict line: invalid.
/// Parser warnings (e.g. "Unsupported version '1.1'") do not make a file invalid.
fn xmllint(dir: &Path, names: &[String], schema: &Path) -> HashMap<String, Xmllint> {
    let mut out: HashMap<String, Xmllint> = HashMap::new();
    for batch in names.chunks(BATCH) {
        let o = Command::new("xmllint")
            .args(["--noout", "--nonet", "--schema"])
            .arg(schema)
            .args(batch)
            .current_dir(dir)
            .output()
            .expect("xmllint must be installed (Debian package libxml2-utils)");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let mut seen: HashMap<&str, Xmllint> = batch
            .iter()
            .map(|n| (n.as_str(), Xmllint::default()))
            .collect();
        let mut current: Option<&str> = None;
        for line in stderr.lines() {
            // Per-file lines start with "NAME:" or "NAME "; parser errors are
            // followed by context lines that belong to the last file named.
            let name = line
                .find([':', ' '])
                .map(|p| &line[..p])
                .filter(|n| seen.contains_key(n));
            match name {
                Some(n) => {
                    current = Some(n);
                    let rest = &line[n.len()..];
                    let e = seen.get_mut(n).expect("known name");
                    e.answered = true;
                    if rest == " validates" {
                        e.said_valid = true;
                    } else if rest == " fails to validate" {
                        e.said_invalid = true;
                    } else {
                        // Warnings ("parser warning") do not change the verdict.
                        if rest.contains(": parser error :") {
                            e.said_invalid = true;
                        }
                        e.messages.push(rest.trim_start_matches(':').to_owned());
                    }
                }
                None => {
                    if let Some(e) = current.and_then(|n| seen.get_mut(n)) {
                        if e.messages.len() < 12 {
                            e.messages.push(format!("  {line}"));
                        }
                    }
                }
            }
        }
        for (n, mut r) in seen {
            r.valid = r.said_valid && !r.said_invalid;
            assert!(
                r.answered,
                "xmllint said nothing about {n} (exit {:?}); stderr starts:\n{}",
                o.status.code(),
                stderr.chars().take(2000).collect::<String>()
            );
            out.insert(n.to_owned(), r);
        }
    }
    out
}

/// Our schema-level verdict: invalid iff a wellformedness/schema error.
struct Ours {
    valid: bool,
    errors: Vec<String>,
}

fn ours(v: &Validator, bytes: &[u8]) -> Ours {
    let r = v.validate(bytes);
    let errors: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.category.is_schema_level() && f.severity == Severity::Error)
        .map(|f| {
            format!(
                "{} {} {}:{} {} — {}",
                f.code, f.category, f.line, f.column, f.path, f.text_en
            )
        })
        .collect();
    Ours {
        valid: errors.is_empty(),
        errors,
    }
}

/// `f` over `items` on two threads (the machine has two cores), in order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let half = items.len().div_ceil(2);
    std::thread::scope(|s| {
        let (a, b) = items.split_at(half);
        let f = &f;
        let hb = s.spawn(move || b.iter().map(f).collect::<Vec<R>>());
        let mut out: Vec<R> = a.iter().map(f).collect();
        out.extend(hb.join().expect("worker"));
        out
    })
}

/// The gist of an xmllint message, for grouping disagreements into classes:
/// element names and values quoted with '…' are blanked.
fn gist(msg: &str) -> String {
    let m = msg
        .split_once("Schemas validity error : ")
        .map(|(_, r)| r)
        .or_else(|| msg.split_once("parser error : ").map(|(_, r)| r))
        .unwrap_or(msg);
    let mut out = String::new();
    let mut quoted = false;
    for ch in m.chars() {
        if ch == '\'' {
            quoted = !quoted;
            if quoted {
                out.push_str("'…'");
            }
        } else if !quoted {
            out.push(ch);
        }
    }
    // Drop long "Expected is ( ... )" lists to their start.
    if let Some(p) = out.find("Expected is") {
        out.truncate(p + "Expected is".len());
    }
    out.chars().take(120).collect()
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The corpus. `OVERGANG_DIFF_SCALE=N` multiplies every kind's budget by N
/// (`all`: every candidate, about 75 000 mutants, ~6 min in debug) for deeper, slower runs.
fn corpus() -> (Vec<(String, String)>, Vec<Mutant>) {
    let seeds = seeds();
    let scale = match std::env::var("OVERGANG_DIFF_SCALE").ok().as_deref() {
        None | Some("") => 1,
        Some("all") => usize::MAX,
        Some(n) => n.parse().expect("OVERGANG_DIFF_SCALE is a number or 'all'"),
    };
    let mutants = mutate::generate_scaled(&seeds, scale).expect("the examples scan");
    (seeds, mutants)
}

#[test]
fn schema_verdicts_agree_with_xmllint() {
    let started = std::time::Instant::now();
    let xsd = xsd();
    let (seeds, mutants) = corpus();
    assert!(
        mutants.len() >= MIN_MUTANTS,
        "only {} mutants (need at least {MIN_MUTANTS})",
        mutants.len()
    );
    let tmp = TempDir::new("diff");
    // Originals first: o00.xml…, then mutants m00000.xml…
    let mut names = Vec::new();
    for (i, (_, text)) in seeds.iter().enumerate() {
        let n = format!("o{i:02}.xml");
        std::fs::write(tmp.0.join(&n), text).expect("write");
        names.push(n);
    }
    for (i, m) in mutants.iter().enumerate() {
        let n = format!("m{i:05}.xml");
        std::fs::write(tmp.0.join(&n), &m.bytes).expect("write");
        names.push(n);
    }
    // xmllint in one thread while our validator runs in two more.
    let validator = Validator::new(Options::default()).expect("validator");
    let (lint, t_lint, our_mutants, t_ours) = std::thread::scope(|s| {
        let lint = s.spawn(|| {
            let t = std::time::Instant::now();
            (xmllint(&tmp.0, &names, &xsd), t.elapsed())
        });
        let t = std::time::Instant::now();
        let texts: Vec<&[u8]> = mutants.iter().map(|m| m.bytes.as_slice()).collect();
        let o = par_map(&texts, |b| ours(&validator, b));
        let t_ours = t.elapsed();
        let (lint, t_lint) = lint.join().expect("xmllint thread");
        (lint, t_lint, o, t_ours)
    });

    // The originals: both must accept.
    let mut original_failures = Vec::new();
    for (i, (name, text)) in seeds.iter().enumerate() {
        let l = &lint[&format!("o{i:02}.xml")];
        let o = ours(&validator, text.as_bytes());
        if !l.valid || !o.valid {
            original_failures.push(format!(
                "{name}: xmllint {} ours {}\n    ours: {:?}\n    xmllint: {:?}",
                if l.valid { "valid" } else { "INVALID" },
                if o.valid { "valid" } else { "INVALID" },
                o.errors.iter().take(5).collect::<Vec<_>>(),
                l.messages.iter().take(5).collect::<Vec<_>>()
            ));
        }
    }

    #[derive(Default)]
    struct Tally {
        total: usize,
        agree: usize,
        lint_invalid: usize,
        false_accept: usize,
        false_reject: usize,
    }
    let mut tally: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut classes: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut details = Vec::new();
    for (i, m) in mutants.iter().enumerate() {
        let l = &lint[&format!("m{i:05}.xml")];
        let o = &our_mutants[i];
        let t = tally.entry(m.kind).or_default();
        t.total += 1;
        if !l.valid {
            t.lint_invalid += 1;
        }
        if l.valid == o.valid {
            t.agree += 1;
            continue;
        }
        let class = if o.valid {
            t.false_accept += 1;
            format!(
                "[{}] we ACCEPT, xmllint rejects: {}",
                m.kind,
                l.messages.first().map(|s| gist(s)).unwrap_or_default()
            )
        } else {
            t.false_reject += 1;
            format!(
                "[{}] we REJECT, xmllint accepts: {}",
                m.kind,
                o.errors.first().map(|s| short(s, 110)).unwrap_or_default()
            )
        };
        let e = classes.entry(class).or_insert((0, m.id.clone()));
        e.0 += 1;
        details.push(format!(
            "{} (m{i:05}.xml, seed {})\n    what: {}\n    xmllint: {} {}\n    ours:    {} {}",
            m.id,
            m.seed,
            m.description,
            if l.valid { "valid" } else { "invalid" },
            l.messages
                .iter()
                .take(2)
                .map(|s| short(s, 300))
                .collect::<Vec<_>>()
                .join(" | "),
            if o.valid { "valid" } else { "invalid" },
            o.errors
                .iter()
                .take(2)
                .map(|s| short(s, 300))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    let agree: usize = tally.values().map(|t| t.agree).sum();
    println!(
        "differential: {} mutants from {} examples; agree on {agree} ({:.1}%); xmllint {:.2?}, ours {:.2?}, total {:.2?}",
        mutants.len(),
        seeds.len(),
        100.0 * agree as f64 / mutants.len() as f64,
        t_lint,
        t_ours,
        started.elapsed()
    );
    println!(
        "{:<11} {:>6} {:>6} {:>8} {:>9} {:>9}",
        "kind", "total", "agree", "invalid*", "false-acc", "false-rej"
    );
    for (k, t) in &tally {
        println!(
            "{:<11} {:>6} {:>6} {:>8} {:>9} {:>9}",
            k, t.total, t.agree, t.lint_invalid, t.false_accept, t.false_reject
        );
    }
    println!("(* invalid according to xmllint)");
    if !classes.is_empty() {
        let mut cl: Vec<_> = classes.iter().collect();
        cl.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        println!(
            "\ndisagreement classes ({}), count and first example:",
            cl.len()
        );
        for (c, (n, ex)) in cl.iter().take(60) {
            println!("{n:>5}  {c}\n         e.g. {ex}");
        }
        println!(
            "\nfirst {} of {} disagreements:",
            details.len().min(30),
            details.len()
        );
        for d in details.iter().take(30) {
            println!("{d}");
        }
    }
    assert!(
        original_failures.is_empty(),
        "official examples not accepted by both:\n{}",
        original_failures.join("\n")
    );
    assert_eq!(
        agree,
        mutants.len(),
        "{} of {} mutants disagree with xmllint (see the output above)",
        mutants.len() - agree,
        mutants.len()
    );
}

/// Examples plus a deterministic sample of this many mutants go through the CLI.
const APPREC_SAMPLE: usize = 220;

#[test]
fn apprecs_for_examples_and_mutants_validate() {
    let xsd = xsd();
    let (seeds, mutants) = corpus();
    let bin = env!("CARGO_BIN_EXE_overgang");
    let tmp = TempDir::new("apprec");

    // Inputs: all 22 examples and every k-th mutant (spread over all kinds).
    let step = (mutants.len() / APPREC_SAMPLE).max(1);
    let mut inputs: Vec<(String, Vec<u8>)> = seeds
        .iter()
        .map(|(n, t)| (n.clone(), t.clone().into_bytes()))
        .collect();
    inputs.extend(
        mutants
            .iter()
            .step_by(step)
            .map(|m| (m.id.clone(), m.bytes.clone())),
    );
    assert!(
        inputs.len() >= 22 + 200,
        "sample too small: {}",
        inputs.len()
    );

    // The default AppRec version (1.1) for every input; --version 1.0 for the
    // examples and every fourth sampled mutant.
    let mut jobs: Vec<(usize, Option<&str>)> = (0..inputs.len()).map(|i| (i, None)).collect();
    jobs.extend(
        (0..inputs.len())
            .filter(|i| *i < 22 || i % 4 == 0)
            .map(|i| (i, Some("1.0"))),
    );
    for (i, (_, text)) in inputs.iter().enumerate() {
        std::fs::write(tmp.0.join(format!("in{i:04}.xml")), text).expect("write");
    }

    // Run the CLI, two at a time (the machine has two cores).
    let next = AtomicUsize::new(0);
    let results: Vec<(usize, Option<&str>, Result<String, String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(i, ver)) = jobs.get(j) else { break };
                        let mut cmd = Command::new(bin);
                        cmd.arg("apprec");
                        if let Some(v) = ver {
                            cmd.args(["--version", v]);
                        }
                        cmd.arg(tmp.0.join(format!("in{i:04}.xml")));
                        let r = match cmd.output() {
                            Err(e) => Err(format!("cannot run {bin}: {e}")),
                            Ok(o) => {
                                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                                if out.contains("AppRec") {
                                    Ok(out)
                                } else {
                                    Err(format!(
                                        "no AppRec on stdout (exit {:?}); stderr: {}",
                                        o.status.code(),
                                        short(&String::from_utf8_lossy(&o.stderr), 400)
                                    ))
                                }
                            }
                        };
                        done.push((i, ver, r));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });

    let mut failures = Vec::new();
    let mut names = Vec::new();
    let mut origin: HashMap<String, String> = HashMap::new();
    for (i, ver, r) in &results {
        let label = format!("{} (--version {})", inputs[*i].0, ver.unwrap_or("default"));
        match r {
            Err(e) => failures.push(format!("{label}: {e}")),
            Ok(out) => {
                let n = format!("ar{i:04}-{}.xml", ver.unwrap_or("d"));
                let root_ok = out
                    .split('<')
                    .find(|t| !t.is_empty() && !t.starts_with('?') && !t.starts_with('!'))
                    .is_some_and(|t| {
                        let name = t.split([' ', '>', '/', '\n', '\t']).next().unwrap_or("");
                        name.rsplit(':').next() == Some("AppRec")
                    });
                if !root_ok {
                    failures.push(format!("{label}: the root element is not AppRec"));
                }
                std::fs::write(tmp.0.join(&n), out).expect("write");
                origin.insert(n.clone(), label);
                names.push(n);
            }
        }
    }
    names.sort();
    let lint = xmllint(&tmp.0, &names, &xsd);
    for n in &names {
        let l = &lint[n];
        if !l.valid {
            failures.push(format!(
                "{}: AppRec does not validate: {}",
                origin[n],
                l.messages
                    .iter()
                    .take(3)
                    .map(|s| short(s, 300))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
    }
    println!(
        "apprec: {} CLI runs over {} inputs (22 examples + {} sampled mutants); {} AppRecs validated, {} failures",
        results.len(),
        inputs.len(),
        inputs.len() - 22,
        names.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} AppRec checks failed; first 30:\n{}",
        failures.len(),
        results.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
