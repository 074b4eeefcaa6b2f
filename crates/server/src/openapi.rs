//! `GET /api/openapi.json`: the HTTP API as an OpenAPI 3.1 document.
//!
//! Every API handler carries a `#[utoipa::path]` annotation (method, path,
//! parameters, body, answers, security); [`openapi`] collects them with the
//! JSON shapes below. The web pages' operations (tag `ui`, the `session`
//! scheme) are made from [`crate::ui::route_list`], which lists each page
//! with its summary and answers, and merged in. Other crates that serve
//! routes of their own describe them in an `OpenApi` of their own and hand
//! both to [`crate::Gateway::mount`], which merges the paths into the
//! document served. The document is rendered once, not per request.
//!
//! The shapes here describe what the handlers write with `serde_json`;
//! they are documentation, and the end-to-end tests compare real answers
//! with them.

#![allow(dead_code)] // the shapes are read by the derive, never built

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi, ToSchema};

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";
/// The name of the client-certificate (mutual TLS) security scheme.
pub const MUTUAL_TLS: &str = "mutual_tls";
/// The name of the web pages' session-cookie security scheme.
pub const SESSION: &str = "session";
/// The tag of the web pages' operations.
pub const UI_TAG: &str = "ui";
/// The extension an open web page's operation carries: why it needs no
/// login.
pub const OPEN_EXTENSION: &str = "x-open";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Overgang",
        description = "Gateway for Norwegian PLO health messages: intake with immediate AppRec, metadata, deliveries and receipts, operators' queue actions. See docs/API.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::app::intake,
        crate::app::search,
        crate::app::message,
        crate::app::apprec,
        crate::app::healthz,
        crate::app::ready,
        crate::app::reload_registry,
        crate::app::reload_rules,
        crate::app::metrics,
        crate::app::openapi_json,
        crate::deliveries::of_message,
        crate::deliveries::receipts,
        crate::deliveries::receipt,
        crate::deliveries::post_apprec,
        crate::deliveries::list,
        crate::deliveries::stats,
        crate::deliveries::replay_many,
        crate::deliveries::one,
        crate::deliveries::replay_one,
        crate::deliveries::cancel_one,
        crate::deliveries::alerts,
        crate::flow_api::board,
        crate::flow_api::overdue,
        crate::flow_api::unplaced,
    ),
    components(schemas(
        Problem,
        Finding,
        IntakeSummary,
        MessageSummary,
        HistoryEntry,
        MessageView,
        SearchPage,
        Delivery,
        DeliveryItems,
        DeliveryPage,
        ReceiptItem,
        ReceiptItems,
        ReceiptStored,
        crate::deliveries::ActionBody,
        ActionResult,
        ReplayItem,
        ReplayItems,
        Stats,
        Latency,
        Alert,
        AlertItems,
        Readiness,
        RegistryStatus,
        RegistryRefused,
        RulesStatus,
        RulesRefused,
        crate::flow_api::FlowBoard,
        crate::flow_api::FlowBoardRow,
        crate::flow_api::FlowBoardTotals,
        crate::flow_api::FlowOverdueItems,
        crate::flow_api::FlowOverdueItem,
        crate::flow_api::FlowUnplaced,
    )),
    modifiers(&Security),
    tags(
        (name = "intake", description = "Posting messages and reading what the gateway made of them."),
        (name = "deliveries", description = "Where messages went, and the receivers' AppRecs."),
        (name = "operators", description = "Admin systems: queues, replay, cancel, alerts, stats, registry."),
        (name = "flow", description = "Patient flow (docs/FLOW.md): the discharge-ready board, overdue expected messages, unplaced messages. Systems with `may_read_all` or `admin`."),
        (name = "health", description = "Liveness, readiness, metrics and this document."),
        (name = "ui", description = "The web pages for people (HTML, docs/UI.md): nurses, operators, administrators. A login session (the `session` scheme), not a token."),
    )
)]
struct ServerApi;

/// Adds the security schemes every authenticated operation names.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A sender system's token (its Argon2id hash is in the configuration).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            MUTUAL_TLS,
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate signed by [tls] client_ca whose subject a system names."
                        .into(),
                ),
                extensions: None,
            },
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "overgang_session",
                "A person's login session for the web pages (tag `ui`), from `POST /ui/login`. \
                 The cookie is `overgang_session` over plain HTTP (loopback only) and \
                 `__Host-overgang` (Secure) when the gateway serves TLS. Every POST also needs \
                 the session's CSRF token in the `_csrf` form field (pages carry it in their forms).",
            ))),
        );
    }
}

/// The server's own OpenAPI document (OpenAPI 3.1): the API and the web
/// pages. Merge other crates' paths into it with
/// `utoipa::openapi::OpenApi::merge`, or hand them to
/// [`crate::Gateway::mount`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ServerApi::openapi();
    doc.merge(ui_paths(&crate::ui::route_list()));
    doc
}

/// The web pages' operations, made from their route list: an operation id,
/// the summary, tag `ui`, path parameters, a form body with `_csrf` for a
/// POST, the answers, and the `session` scheme unless the route is open
/// (then no security, and [`OPEN_EXTENSION`] says why).
fn ui_paths(routes: &[crate::ui::pages::UiRoute]) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::extensions::ExtensionsBuilder;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{Content, Required, ResponseBuilder, ResponsesBuilder};

    let mut paths = utoipa::openapi::path::Paths::new();
    for r in routes {
        let method = if r.method == "post" {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        };
        let mut responses = ResponsesBuilder::new();
        for a in r.answers {
            let mut answer = ResponseBuilder::new().description(a.description);
            for kind in a.content {
                answer = answer.content(
                    *kind,
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
            if a.status == 303 {
                answer = answer.header(
                    "Location",
                    utoipa::openapi::header::HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("Where the browser goes next"))
                        .build(),
                );
            }
            responses = responses.response(a.status.to_string(), answer.build());
        }
        let mut op = OperationBuilder::new()
            .operation_id(Some(ui_operation_id(r.method, r.path)))
            .summary(Some(r.summary))
            .tag(UI_TAG)
            .responses(responses.build());
        for name in path_params(r.path) {
            let kind = if r.integers.contains(&name) {
                Type::Integer
            } else {
                Type::String
            };
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(kind))),
            );
        }
        if method == HttpMethod::Post {
            let form = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "_csrf",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some("The session's CSRF token, from the page's form")),
                )
                .required("_csrf");
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some("The page's form; `_csrf` is always needed"))
                    .content(
                        "application/x-www-form-urlencoded",
                        Content::new(Some(form)),
                    )
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        match r.open {
            Some(why) => {
                op = op
                    .description(Some(format!("Open: no login needed. {why}")))
                    .extensions(Some(
                        ExtensionsBuilder::new().add(OPEN_EXTENSION, why).build(),
                    ));
            }
            None => {
                op = op.security(SecurityRequirement::new(SESSION, Vec::<String>::new()));
            }
        }
        paths.add_path_operation(r.path, vec![method], op.build());
    }
    let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
    doc.paths = paths;
    doc
}

/// `ui_` + method + the path's segments: `GET /ui/ops/messages/{id}` is
/// `ui_get_ui_ops_messages_id`; a trailing `/` is `_slash`, `/` alone
/// `root`.
fn ui_operation_id(method: &str, path: &str) -> String {
    let mut id = format!("ui_{method}");
    let mut any = false;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        any = true;
        id.push('_');
        id.extend(segment.chars().filter_map(|c| match c {
            '{' | '}' => None,
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => Some('_'),
        }));
    }
    if !any {
        id.push_str("_root");
    } else if path.ends_with('/') {
        id.push_str("_slash");
    }
    id
}

/// The `{param}` names in a path, in order.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The document as served, rendered once (and again when another crate's
/// paths are merged in).
pub struct Served {
    doc: RwLock<(utoipa::openapi::OpenApi, Arc<str>)>,
}

impl Served {
    pub fn new(doc: utoipa::openapi::OpenApi) -> Served {
        let json = render(&doc);
        Served {
            doc: RwLock::new((doc, json)),
        }
    }

    /// Merges `other`'s paths and components into the served document.
    pub fn merge(&self, other: utoipa::openapi::OpenApi) {
        let mut guard = self.doc.write().unwrap_or_else(|p| p.into_inner());
        guard.0.merge(other);
        guard.1 = render(&guard.0);
    }

    /// The JSON text.
    pub fn json(&self) -> Arc<str> {
        self.doc.read().unwrap_or_else(|p| p.into_inner()).1.clone()
    }
}

impl Default for Served {
    fn default() -> Self {
        Served::new(openapi())
    }
}

fn render(doc: &utoipa::openapi::OpenApi) -> Arc<str> {
    // Serialising plain data cannot fail; an empty object if it ever did.
    doc.to_json().unwrap_or_else(|_| "{}".into()).into()
}

// --- JSON shapes ----------------------------------------------------------

/// An error that is not about the message itself.
#[derive(ToSchema)]
pub struct Problem {
    /// A stable code (`bad_token`, `not_found`, `too_large`, …).
    #[schema(example = "bad_token")]
    pub error: String,
    pub text_nb: String,
    pub text_en: String,
}

/// A finding (docs/FINDINGS.md).
#[derive(ToSchema, serde::Serialize)]
pub struct Finding {
    pub code: String,
    /// wellformedness, schema, codelist, identity, profile, completeness, routing
    pub category: String,
    /// info, warning, error
    pub severity: String,
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub text_nb: String,
    pub text_en: String,
    /// The AppRec error code (code list 8221), if any.
    pub apprec_error: Option<String>,
}

/// Intake's answer with `Accept: application/json`.
#[derive(ToSchema)]
pub struct IntakeSummary {
    /// The gateway's id (absent when nothing was stored).
    pub id: Option<String>,
    pub msg_id: Option<String>,
    /// accepted, accepted_with_warnings, rejected
    pub verdict: String,
    pub findings: Vec<Finding>,
    /// 1 OK, 2 rejected, 3 OK with errors
    pub apprec_status: u8,
}

/// A stored message's metadata (a search item). No content, no patient.
#[derive(ToSchema, serde::Serialize)]
pub struct MessageSummary {
    pub id: String,
    pub system: String,
    pub received_at: String,
    pub updated_at: String,
    pub size: u64,
    pub verdict: String,
    /// A message state (docs/API.md#message-states).
    pub state: String,
    pub apprec_status: u8,
    pub msg_id: Option<String>,
    pub msg_type: Option<String>,
    pub standard: Option<String>,
    pub sender_her: Option<String>,
    pub receiver_her: Option<String>,
}

/// One state change (of a message, or a delivery's event).
#[derive(ToSchema, serde::Serialize)]
pub struct HistoryEntry {
    pub at: String,
    /// `gateway`, `system:<name>` or `user:<person> (system:<name>)`.
    pub actor: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
}

/// `GET /api/v1/messages/{id}`.
#[derive(ToSchema, serde::Serialize)]
pub struct MessageView {
    #[serde(flatten)]
    pub summary: MessageSummary,
    pub sha256: String,
    pub findings: Vec<Finding>,
    pub history: Vec<HistoryEntry>,
    /// Without their events.
    pub deliveries: Vec<Delivery>,
}

#[derive(ToSchema)]
pub struct SearchPage {
    pub items: Vec<MessageSummary>,
    /// Continue with `cursor=`; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A delivery (docs/API.md#deliveries). No content, no patient.
#[derive(ToSchema, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub message_id: String,
    /// message, receipt
    pub kind: String,
    pub receiver_her: String,
    /// primary, other_receiver, copy:<rule>, callback
    pub role: String,
    /// queued, in_flight, delivered, acknowledged, acknowledged_with_errors,
    /// rejected_by_receiver, dead_letter, cancelled
    pub state: String,
    pub attempts: u32,
    pub created_at: String,
    pub updated_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub answered_at: Option<String>,
    pub last_error: Option<String>,
    pub apprec_overdue: bool,
    pub receipt_id: Option<i64>,
    pub msg_type: Option<String>,
    pub sender_her: Option<String>,
    /// Where the answer says so.
    pub events: Option<Vec<HistoryEntry>>,
}

#[derive(ToSchema)]
pub struct DeliveryItems {
    pub items: Vec<Delivery>,
}

#[derive(ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// Continue with `before=`; `null` when the page was not full.
    pub next_before: Option<i64>,
}

/// A receiver's AppRec for a message.
#[derive(ToSchema)]
pub struct ReceiptItem {
    pub id: i64,
    pub delivery_id: i64,
    pub received_at: String,
    /// 1 OK, 2 rejected, 3 OK with errors
    pub status: u8,
    pub status_text: String,
    pub apprec_msg_id: Option<String>,
    pub from_her: Option<String>,
    /// sync, async
    pub via: String,
    pub href: String,
}

#[derive(ToSchema)]
pub struct ReceiptItems {
    pub items: Vec<ReceiptItem>,
}

/// `POST /api/v1/apprecs`'s answer.
#[derive(ToSchema)]
pub struct ReceiptStored {
    pub receipt_id: i64,
    pub delivery_id: i64,
    pub message_id: String,
    /// The delivery's new state (201).
    pub state: Option<String>,
    /// `true` when stored before (200).
    pub duplicate: Option<bool>,
}

#[derive(ToSchema)]
pub struct ActionResult {
    pub id: i64,
    pub state: String,
}

#[derive(ToSchema)]
pub struct ReplayItem {
    pub id: i64,
    pub state: Option<String>,
    /// not_found, not_allowed
    pub error: Option<String>,
}

#[derive(ToSchema)]
pub struct ReplayItems {
    pub items: Vec<ReplayItem>,
}

#[derive(ToSchema)]
pub struct Latency {
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub max: i64,
}

/// `GET /api/v1/deliveries/stats`.
#[derive(ToSchema)]
pub struct Stats {
    /// Deliveries per state (states with none left out).
    pub by_state: BTreeMap<String, u64>,
    pub answered_since: String,
    pub answered: u64,
    /// Arrival at the gateway to the receiver's AppRec, milliseconds.
    pub arrival_to_apprec_ms: Option<Latency>,
}

#[derive(ToSchema)]
pub struct Alert {
    pub id: i64,
    pub at: String,
    /// dead_letter, apprec_overdue, registry
    pub kind: String,
    pub subject: String,
    pub text_nb: String,
    pub text_en: String,
}

#[derive(ToSchema)]
pub struct AlertItems {
    pub items: Vec<Alert>,
}

/// The address registry in force.
#[derive(ToSchema)]
pub struct RegistryStatus {
    pub file: Option<String>,
    pub parties: u64,
    pub loaded_at: String,
    /// A refused reload's problems (file:line); the previous registry stays.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// `GET /readyz`.
#[derive(ToSchema)]
pub struct Readiness {
    /// ok, unavailable
    pub store: String,
    pub systems: u64,
    pub registry: RegistryStatus,
    pub rules: u64,
}

/// A registry file refused on reload.
#[derive(ToSchema)]
pub struct RegistryRefused {
    /// registry_invalid
    pub error: String,
    pub text_nb: String,
    pub text_en: String,
    pub detail: String,
    pub registry: RegistryStatus,
}

/// The deployment's rules in force.
#[derive(ToSchema)]
pub struct RulesStatus {
    /// Rules of the catalogue with the deployment's files applied.
    pub rules: u64,
    /// The deployment's rule files (`[validation] rules`).
    pub files: Vec<String>,
    pub loaded_at: String,
    /// start, admin API, SIGHUP, another node's admin API
    pub trigger: String,
}

/// Rule files refused on reload.
#[derive(ToSchema)]
pub struct RulesRefused {
    /// rules_invalid
    pub error: String,
    pub text_nb: String,
    pub text_en: String,
    /// The file, line and rule, and what is wrong.
    pub detail: String,
    pub rules: RulesStatus,
}

#[cfg(test)]
mod tests;
