//! A simulated receiving system (an EHR or municipal care system) for
//! end-to-end tests and the demo.
//!
//! It takes the messages the gateway delivers (`POST` on any path, e.g.
//! `/plo`), answers each with an application receipt (AppRec) the way its
//! [`Behaviour`] says, deduplicates on MsgId like a real receiver, takes
//! receipt callbacks (`POST` on a path containing `receipts`), and can be
//! inspected and switched at run time under `/_sim/`. See
//! `docs/SIMULATOR.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), overgang_simulate::SimulateError> {
//! use overgang_simulate::{Behaviour, Receiver, ReceiverOptions};
//! let mut opts = ReceiverOptions::new("127.0.0.1:0".parse().expect("addr"));
//! opts.behaviour = Behaviour::Reject;
//! let receiver = Receiver::bind(opts).await?;
//! println!("listening on {}", receiver.local_addr());
//! receiver.run(async { /* until told to stop */ }).await
//! # }
//! ```
//!
//! It listens on loopback addresses only: a simulator must never face a
//! network. It keeps no patient data: its book holds message ids, types,
//! HER-ids and the receipts it wrote; its logs name the MsgId only.

mod behaviour;
mod callback;
mod http;
mod listener;
mod receipt;
mod rng;
mod state;

pub use behaviour::{Behaviour, FORMS};
pub use callback::APPRECS_PATH;
pub use http::CONTROL_PREFIX;
pub use overgang_apprec::AppRecVersion;
pub use reqwest::Url;
pub use state::{CallbackState, ReceiptRecord, Receipts, Received, ReceivedMessage, Totals};

use state::{lock, State};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Errors of the simulator. Texts are in Norwegian with English beside
/// where a person reads them, and never carry message content.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("oppførsel/behaviour «{input}»: {reason}")]
    Behaviour { input: String, reason: String },
    #[error("{addr} er ikke en loopback-adresse; en simulator skal aldri lytte mot et nettverk / {addr} is not a loopback address; a simulator must never face a network")]
    NotLoopback { addr: SocketAddr },
    #[error("kunne ikke lytte på / could not listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("oppførselen async trenger gatewayens adresse (--gateway) / behaviour async needs the gateway's URL (--gateway)")]
    NeedsGateway,
    #[error("kunne ikke lage AppRec / could not write the AppRec: {0}")]
    AppRec(String),
    #[error("HTTP-klienten / the HTTP client: {0}")]
    Client(String),
}

/// How to run a receiver. Start from [`ReceiverOptions::new`].
#[derive(Clone)]
pub struct ReceiverOptions {
    /// Loopback address to listen on; port 0 picks a free port
    /// ([`Receiver::local_addr`] tells which).
    pub listen: SocketAddr,
    /// How to answer (default [`Behaviour::Ok`]); switchable at run time.
    pub behaviour: Behaviour,
    /// The gateway's base URL, for `async` receipts
    /// (posted to `{gateway}/api/v1/apprecs`).
    pub gateway: Option<Url>,
    /// Bearer token for posting receipts to the gateway.
    pub token: Option<String>,
    /// When set, message and receipt requests without
    /// `Authorization: Bearer <this>` get 401. Control endpoints need none.
    pub require_token: Option<String>,
    /// AppRec version written (default v1.1).
    pub apprec_version: AppRecVersion,
    /// Wait between the 202 and posting the receipt (`async`; default 50 ms).
    pub async_delay: Duration,
    /// Attempts at posting an `async` receipt (default 5).
    pub callback_attempts: u32,
    /// Wait before the second attempt, doubling after each (default 200 ms).
    pub callback_backoff: Duration,
    /// Seed of the generator that decides `flaky` failures (default 1).
    pub seed: u64,
    /// Largest request body read (default 40 MiB; larger gets 413).
    pub max_body_bytes: usize,
}

impl ReceiverOptions {
    /// Defaults: `ok`, no gateway, no tokens, AppRec v1.1, seed 1.
    pub fn new(listen: SocketAddr) -> ReceiverOptions {
        ReceiverOptions {
            listen,
            behaviour: Behaviour::Ok,
            gateway: None,
            token: None,
            require_token: None,
            apprec_version: AppRecVersion::V1_1,
            async_delay: Duration::from_millis(50),
            callback_attempts: 5,
            callback_backoff: Duration::from_millis(200),
            seed: 1,
            max_body_bytes: 40 * 1024 * 1024,
        }
    }
}

impl fmt::Debug for ReceiverOptions {
    /// Tokens are never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |t: &Option<String>| t.as_ref().map(|_| "<redacted>");
        f.debug_struct("ReceiverOptions")
            .field("listen", &self.listen)
            .field("behaviour", &self.behaviour)
            .field("gateway", &self.gateway.as_ref().map(Url::as_str))
            .field("token", &hidden(&self.token))
            .field("require_token", &hidden(&self.require_token))
            .field("apprec_version", &self.apprec_version)
            .field("async_delay", &self.async_delay)
            .field("callback_attempts", &self.callback_attempts)
            .field("callback_backoff", &self.callback_backoff)
            .field("seed", &self.seed)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// A bound receiver, not yet serving.
pub struct Receiver {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
}

/// Whether `addr` is a loopback address (127.0.0.0/8, ::1, or an
/// IPv4-mapped loopback address).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl Receiver {
    /// Checks the options and binds the address (loopback only).
    pub async fn bind(opts: ReceiverOptions) -> Result<Receiver, SimulateError> {
        if !is_loopback(&opts.listen) {
            return Err(SimulateError::NotLoopback { addr: opts.listen });
        }
        let client = match &opts.gateway {
            Some(_) => Some(callback::client().map_err(|e| SimulateError::Client(e.to_string()))?),
            None => None,
        };
        if opts.behaviour == Behaviour::Async && client.is_none() {
            return Err(SimulateError::NeedsGateway);
        }
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| SimulateError::Bind {
                addr: opts.listen,
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| SimulateError::Bind {
            addr: opts.listen,
            reason: e.to_string(),
        })?;
        let (behaviour, _) = tokio::sync::watch::channel(opts.behaviour);
        let state = Arc::new(State {
            rng: Mutex::new(rng::Rng::new(opts.seed)),
            behaviour,
            book: Mutex::default(),
            lists: overgang_codelists::CodeLists::builtin(),
            client,
            callbacks: Mutex::new(tokio::task::JoinSet::new()),
            opts,
        });
        Ok(Receiver {
            listener,
            addr,
            state,
        })
    }

    /// The bound address (the real port when the options said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A handle to inspect and switch the receiver from the same process.
    pub fn control(&self) -> Control {
        Control {
            state: self.state.clone(),
        }
    }

    /// Serves until `shutdown` completes; then lets open requests finish
    /// and pending `async` receipts go out (a few seconds at most).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), SimulateError> {
        let app = http::router(self.state.clone());
        tracing::info!(addr = %self.addr, behaviour = %self.state.behaviour(), "receiver simulator started");
        listener::serve(self.listener, self.state, app, shutdown).await;
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes.
pub async fn run(
    opts: ReceiverOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimulateError> {
    Receiver::bind(opts).await?.run(shutdown).await
}

/// Inspects and switches a running receiver (what `/_sim/` offers over HTTP).
#[derive(Clone)]
pub struct Control {
    state: Arc<State>,
}

impl Control {
    pub fn behaviour(&self) -> Behaviour {
        self.state.behaviour()
    }

    /// Switches behaviour; new connections see `down` at once, open ones are
    /// closed after their current request. `async` needs a gateway.
    pub fn set_behaviour(&self, b: Behaviour) -> Result<(), SimulateError> {
        self.state.set_behaviour(b)
    }

    /// The messages in arrival order, and the totals.
    pub fn received(&self) -> Received {
        self.state.received()
    }

    /// The receipts that came to a receipts path.
    pub fn receipts(&self) -> Receipts {
        self.state.receipts()
    }

    /// The totals alone.
    pub fn totals(&self) -> Totals {
        lock(&self.state.book).totals
    }
}
