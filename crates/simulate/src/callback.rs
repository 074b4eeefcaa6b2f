//! `async`: the receipt posted to the gateway after the 202, with retries.

use crate::state::{CallbackState, State};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// The gateway's receipt intake, under its base URL.
pub const APPRECS_PATH: &str = "/api/v1/apprecs";

/// The URL receipts are posted to.
pub(crate) fn apprecs_url(gateway: &reqwest::Url) -> String {
    format!("{}{APPRECS_PATH}", gateway.as_str().trim_end_matches('/'))
}

/// Builds the client for callbacks: no proxy, no redirects.
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a TLS crypto provider of its own; the
    // process-wide default may already be installed (that is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// Whether another attempt could help: network errors, 408, 429, 5xx.
fn worth_retrying(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Waits `async_delay`, then posts `apprec` for the message at `index`
/// (named in logs by `msg_id`, already log-safe) until the gateway answers
/// 2xx, it refuses for good (another 4xx), or the attempts are used up.
pub(crate) fn spawn(state: &Arc<State>, index: usize, msg_id: String, apprec: Arc<str>) {
    let (Some(client), Some(gateway)) = (state.client.clone(), state.opts.gateway.clone()) else {
        return;
    };
    let st = state.clone();
    let task = async move {
        let url = apprecs_url(&gateway);
        let attempts = st.opts.callback_attempts.max(1);
        let mut backoff = st.opts.callback_backoff;
        tokio::time::sleep(st.opts.async_delay).await;
        for attempt in 1..=attempts {
            let mut req = client
                .post(&url)
                .header(CONTENT_TYPE, "application/xml; charset=utf-8")
                .body(apprec.as_bytes().to_vec());
            if let Some(t) = &st.opts.token {
                req = req.header(AUTHORIZATION, format!("Bearer {t}"));
            }
            let outcome = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    st.set_callback(index, CallbackState::Delivered);
                    tracing::info!(%msg_id, attempt, "receipt delivered to the gateway");
                    return;
                }
                Ok(resp) => {
                    let status = resp.status();
                    if !worth_retrying(status) {
                        st.set_callback(index, CallbackState::Failed);
                        tracing::warn!(%msg_id, attempt, status = status.as_u16(),
                            "the gateway refused the receipt; not trying again");
                        return;
                    }
                    format!("HTTP {}", status.as_u16())
                }
                // reqwest's errors name the URL and the kind of failure,
                // never the body.
                Err(e) => e.to_string(),
            };
            if attempt == attempts {
                st.set_callback(index, CallbackState::Failed);
                tracing::warn!(%msg_id, attempts, error = %outcome,
                    "could not deliver the receipt to the gateway; giving up");
                return;
            }
            tracing::info!(%msg_id, attempt, error = %outcome, "receipt not delivered; trying again");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(Duration::from_secs(30));
        }
    };
    let mut set = crate::state::lock(&state.callbacks);
    // Forget the finished ones so the set does not grow.
    while set.try_join_next().is_some() {}
    set.spawn(task);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apprecs_url_is_under_the_gateway() {
        for (base, want) in [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/api/v1/apprecs",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/api/v1/apprecs",
            ),
            (
                "https://gw.example/x/",
                "https://gw.example/x/api/v1/apprecs",
            ),
        ] {
            let u = reqwest::Url::parse(base).expect("url");
            assert_eq!(apprecs_url(&u), want);
        }
    }

    #[test]
    fn only_temporary_failures_are_retried() {
        for s in [408u16, 429, 500, 502, 503, 504] {
            assert!(
                worth_retrying(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
        for s in [400u16, 401, 403, 404, 413, 422] {
            assert!(
                !worth_retrying(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
    }
}
