//! `overgang flow`: patient flow over the store (docs/FLOW.md).
//!
//! `rebuild` recomputes every accepted message's flow fact from its stored
//! bytes (after a change to what a fact holds, or to the registry's
//! municipalities); `stays` counts the stays the facts make. Both open the
//! store beside a running gateway (SQLite's busy timeout serialises the
//! writes) and print counts only: no patient data.

use anyhow::Context;
use overgang_server::Config;
use overgang_store::{FlowFactRow, Query, State, Store};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Recompute every accepted message's flow fact from the stored message.
    Rebuild(Args),
    /// Count the stays the stored facts make: by state, and the unplaced messages.
    Stays(StaysArgs),
}

#[derive(clap::Args)]
pub struct Args {
    /// The gateway's configuration file: the store (`[store] data`) and the
    /// address registry (`[registry] file`) come from it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct StaysArgs {
    #[command(flatten)]
    pub args: Args,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Messages read per page of the store's search.
const PAGE: u32 = 1000;
/// Facts written per batch.
const BATCH: usize = 500;

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(async move {
        match cmd {
            Command::Rebuild(a) => rebuild(&a).await,
            Command::Stays(a) => stays(&a).await,
        }
    })
}

async fn open(args: &Args) -> anyhow::Result<(Config, overgang_store::AnyStore)> {
    let config = Config::load(args.config.as_deref(), std::env::vars())?;
    let store = overgang_server::open_store(&config.store)
        .await
        .context("could not open the store")?;
    Ok((config, store))
}

/// What a rebuild did.
#[derive(Debug, Default, serde::Serialize)]
struct Counts {
    messages: u64,
    facts_written: u64,
    skipped_rejected: u64,
    skipped_unreadable: u64,
}

async fn rebuild(args: &Args) -> anyhow::Result<ExitCode> {
    let (config, store) = open(args).await?;
    let registry =
        overgang_server::registry::RegistryHandle::load(config.registry.file.as_deref())?.current();
    let limits = overgang_xml::Limits {
        max_bytes: config.server.max_body_bytes,
        ..Default::default()
    };
    let mut counts = Counts::default();
    let mut batch: Vec<FlowFactRow> = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&Query {
                limit: PAGE,
                cursor: cursor.take(),
                ..Default::default()
            })
            .await?;
        for m in &page.items {
            counts.messages += 1;
            if m.state == State::Rejected {
                counts.skipped_rejected += 1;
                continue;
            }
            let fact = match store.original(&m.id).await? {
                Some(bytes) => match overgang_xml::parse(&bytes, &limits) {
                    Ok(doc) => {
                        let message = overgang_model::Message::read(&doc);
                        let receivers: Vec<String> = store
                            .deliveries_of(&m.id)
                            .await?
                            .into_iter()
                            .map(|(d, _)| d.receiver_her)
                            .collect();
                        overgang_server::flow::fact_json(
                            &registry,
                            &message,
                            &m.id,
                            m.received_at,
                            m.meta.patient_key.clone(),
                            &receivers,
                        )
                    }
                    Err(_) => None,
                },
                None => None,
            };
            let Some(fact) = fact else {
                counts.skipped_unreadable += 1;
                continue;
            };
            batch.push(FlowFactRow {
                message_id: m.id.clone(),
                patient_key: m.meta.patient_key.clone(),
                received_at: m.received_at,
                fact,
                positive_apprec_at: None,
            });
            if batch.len() >= BATCH {
                counts.facts_written += batch.len() as u64;
                store.set_flow_facts(std::mem::take(&mut batch)).await?;
            }
        }
        match page.next {
            Some(n) if !page.items.is_empty() => cursor = Some(n),
            _ => break,
        }
    }
    if !batch.is_empty() {
        counts.facts_written += batch.len() as u64;
        store.set_flow_facts(batch).await?;
    }
    store.close().await?;
    println!(
        "messages: {}\nfacts written: {}\nskipped (rejected): {}\nskipped (unreadable): {}",
        counts.messages, counts.facts_written, counts.skipped_rejected, counts.skipped_unreadable
    );
    Ok(ExitCode::SUCCESS)
}

async fn stays(a: &StaysArgs) -> anyhow::Result<ExitCode> {
    let (_, store) = open(&a.args).await?;
    let facts = overgang_server::flow::facts_of_rows(store.flow_facts(0, None).await?);
    store.close().await?;
    let flow = overgang_flow::stays(&facts);
    let mut by_state: std::collections::BTreeMap<String, u64> = Default::default();
    for s in &flow.stays {
        let name = serde_json::to_value(s.state)?
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        *by_state.entry(name).or_default() += 1;
    }
    if a.json {
        let v = serde_json::json!({
            "facts": facts.len(),
            "stays": flow.stays.len(),
            "by_state": by_state,
            "unplaced": flow.unplaced.len(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("facts: {}\nstays: {}", facts.len(), flow.stays.len());
        for (k, n) in &by_state {
            println!("  {k}: {n}");
        }
        println!("unplaced messages: {}", flow.unplaced.len());
    }
    Ok(ExitCode::SUCCESS)
}
