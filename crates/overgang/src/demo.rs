//! `overgang serve --demo`: the gateway plus one simulated receiver (crates/
//! simulate) for every distinct loopback address the address registry
//! delivers to, so the demo has somewhere to deliver.

use anyhow::{bail, Context, Result};
use overgang_registry::{Endpoint, Registry};
use overgang_server::Gateway;
use overgang_simulate::{Behaviour, Receiver, ReceiverOptions, Url};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// The demo system the simulated receivers post `async` receipts as
/// (`config/demo.toml`, system `demo-receivers`).
pub const DEMO_RECEIVERS_TOKEN: &str = "demo-receiver-token";

/// One simulated receiver to start: its address, the parties it stands
/// for, and the token the gateway must present (the registry's
/// `auth.bearer_token_file` of those parties).
#[derive(Debug)]
pub struct Planned {
    pub addr: SocketAddr,
    /// `HER name` of each party whose endpoint or callback is here.
    pub parties: Vec<String>,
    pub require_token: Option<String>,
}

/// The loopback socket address of an endpoint, or why the demo cannot
/// simulate it. Texts name the host, never the whole URL.
fn loopback_addr(ep: &Endpoint) -> Result<SocketAddr, String> {
    let ip: IpAddr = match ep.host().to_ascii_lowercase().as_str() {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "[::1]" => IpAddr::V6(Ipv6Addr::LOCALHOST),
        h => match h.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            _ => {
                return Err(format!(
                    "vertsnavnet {} er ikke loopback / host {} is not loopback",
                    ep.host(),
                    ep.host()
                ))
            }
        },
    };
    if ep.tls() {
        return Err(format!(
            "https til {} — simulatoren snakker bare http / https to {} — the simulator speaks plain http only",
            ep.host(),
            ep.host()
        ));
    }
    let Some(port) = ep.port() else {
        return Err(format!(
            "{} har ingen port / {} has no port",
            ep.host(),
            ep.host()
        ));
    };
    Ok(SocketAddr::new(ip, port))
}

/// Reads the registry the configuration names and plans one receiver per
/// distinct endpoint or callback address. Refuses any that is not plain
/// http on loopback with a port.
pub fn plan(registry_file: Option<&Path>) -> Result<Vec<Planned>> {
    let Some(file) = registry_file else {
        bail!(
            "--demo trenger et adresseregister ([registry] file) / --demo needs an address registry ([registry] file)"
        );
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: kunne ikke lese / could not read", file.display()))?;
    let name = file.display().to_string();
    let registry = Registry::parse(&name, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let base = file.parent().unwrap_or(Path::new("."));

    let mut by_addr: BTreeMap<SocketAddr, Planned> = BTreeMap::new();
    let mut problems = Vec::new();
    for party in registry.parties() {
        let token = match party
            .auth
            .as_ref()
            .and_then(|a| a.bearer_token_file.as_deref())
        {
            Some(f) => Some(crate::simulate_cmd::read_token(&base.join(f))?),
            None => None,
        };
        for (field, ep) in [("endpoint", &party.endpoint), ("callback", &party.callback)] {
            let Some(ep) = ep else { continue };
            let addr = match loopback_addr(ep) {
                Ok(a) => a,
                Err(why) => {
                    problems.push(format!(
                        "{name}:{}: HER {} {field}: {why}",
                        party.line, party.her
                    ));
                    continue;
                }
            };
            let planned = by_addr.entry(addr).or_insert_with(|| Planned {
                addr,
                parties: Vec::new(),
                require_token: None,
            });
            let label = format!("{} {}", party.her, party.name);
            if !planned.parties.contains(&label) {
                planned.parties.push(label);
            }
            if let Some(t) = &token {
                match &planned.require_token {
                    Some(have) if have != t => problems.push(format!(
                        "{name}:{}: HER {}: en annen token enn de andre partene på {addr} / another token than the other parties at {addr}",
                        party.line, party.her
                    )),
                    _ => planned.require_token = Some(t.clone()),
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "--demo starter simulerte mottakere bare på loopback (http://127.0.0.1:PORT) / --demo starts simulated receivers on loopback only (http://127.0.0.1:PORT):\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(by_addr.into_values().collect())
}

/// The receivers, bound.
pub struct Simulators {
    bound: Vec<(Receiver, Planned)>,
}

/// Binds every planned receiver (behaviour `ok`), with `gateway` as the
/// URL `async` receipts would go to.
pub async fn bind(plan: Vec<Planned>, gateway: Url) -> Result<Simulators> {
    let mut bound = Vec::new();
    for p in plan {
        let mut opts = ReceiverOptions::new(p.addr);
        opts.behaviour = Behaviour::Ok;
        opts.gateway = Some(gateway.clone());
        opts.token = Some(DEMO_RECEIVERS_TOKEN.to_owned());
        opts.require_token = p.require_token.clone();
        let r = Receiver::bind(opts)
            .await
            .context("--demo: en simulert mottaker / a simulated receiver")?;
        bound.push((r, p));
    }
    Ok(Simulators { bound })
}

impl Simulators {
    /// One line per receiver on standard output.
    pub fn print(&self) {
        for (r, p) in &self.bound {
            let token = if p.require_token.is_some() {
                ", krever token / requires a token"
            } else {
                ""
            };
            println!(
                "overgang: simulated receiver on {} (ok{token}) for {}",
                r.url(),
                p.parties.join(", ")
            );
        }
    }

    /// Runs the gateway and the receivers until `signal` completes (or the
    /// gateway stops), then stops them all.
    pub async fn run_beside(
        self,
        gateway: Gateway,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let tx = Arc::new(tx);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let signal_task = {
            let tx = tx.clone();
            tokio::spawn(async move {
                signal.await;
                tx.send_replace(true);
            })
        };
        let mut receivers = tokio::task::JoinSet::new();
        for (r, _) in self.bound {
            receivers.spawn(r.run(stopped(rx.clone())));
        }
        let result = gateway.run(stopped(rx.clone())).await;
        tx.send_replace(true);
        signal_task.abort();
        while let Some(r) = receivers.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a simulated receiver stopped with an error")
                }
                Err(e) => tracing::warn!(error = %e, "a simulated receiver task failed"),
            }
        }
        result?;
        Ok(())
    }
}

/// The URL simulated receivers reach the gateway at: its scheme and port,
/// on loopback when it listens on every address.
pub fn gateway_url(scheme: &str, addr: SocketAddr) -> Result<Url> {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("{scheme}://{}", SocketAddr::new(ip, addr.port()));
    Url::parse(&url).with_context(|| format!("gateway URL {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("overgang-demo-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn the_demo_registry_gives_one_receiver_per_port() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry/demo.toml");
        let plan = plan(Some(&file)).expect("plan");
        let ports: Vec<u16> = plan.iter().map(|p| p.addr.port()).collect();
        assert_eq!(ports, [9101, 9102, 9103, 9104, 9105, 9106]);
        assert!(plan.iter().all(|p| p.addr.ip().is_loopback()));
        // The tildelingskontor has its own system and token.
        let tildeling = &plan[4];
        assert!(tildeling.require_token.is_some());
        assert!(plan.iter().filter(|p| p.require_token.is_some()).count() == 1);
        assert!(plan[0].parties[0].starts_with("59 "));
    }

    #[test]
    fn endpoints_beyond_loopback_are_refused() {
        let d = tmp("refuse");
        let f = write(
            &d,
            "r.toml",
            r#"
[[party]]
her = "1"
name = "A"
kind = "organisation"
endpoint = "https://ehr.example.no/plo"
accepts = [{ type = "LOG_INNLAGT", versions = ["1.6"] }]

[[party]]
her = "2"
name = "B"
kind = "organisation"
endpoint = "http://127.0.0.1/plo"
accepts = [{ type = "LOG_INNLAGT", versions = ["1.6"] }]
"#,
        );
        let e = plan(Some(&f)).expect_err("refused").to_string();
        assert!(
            e.contains("HER 1 endpoint") && e.contains("ehr.example.no"),
            "{e}"
        );
        assert!(e.contains("HER 2 endpoint") && e.contains("no port"), "{e}");
        assert!(!e.contains("/plo"), "{e}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn gateway_urls_are_on_loopback() {
        let u = gateway_url("http", "0.0.0.0:8080".parse().expect("addr")).expect("url");
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/");
        let u = gateway_url("http", "127.0.0.1:0".parse().expect("addr")).expect("url");
        assert_eq!(u.as_str(), "http://127.0.0.1:0/");
    }
}
