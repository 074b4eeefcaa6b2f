//! What an attempt's answer means and when to try again: pure functions,
//! no IO, no clock (the caller passes the time and a random number).

use std::time::Duration;

use overgang_store::{AttemptResult, Millis, NewReceipt};

use crate::DeliveryConfig;

/// What came back from one attempt, before the policy judges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer: status, `Retry-After` (already parsed), body.
    Http {
        status: u16,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    /// No HTTP answer: connection refused or reset, TLS failure, timeout.
    Transport(String),
    /// The registry has no endpoint for the receiver (now).
    NoRoute(String),
}

/// How to treat an HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    /// 408, 429, 5xx: the receiver may take it later.
    Retry,
    /// Any other: sending the same bytes again cannot help.
    Refused,
}

pub fn classify(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        408 | 429 | 500..=599 => StatusClass::Retry,
        _ => StatusClass::Refused,
    }
}

/// The pause before attempt `attempts + 1`, after `attempts` failed ones:
/// `initial · 2^(attempts-1)`, capped, with "equal jitter" (half fixed,
/// half random, `random` in `[0, 1)`), so that many deliveries failing at
/// once do not all come back at the same instant.
pub fn backoff(cfg: &DeliveryConfig, attempts: u32, random: f64) -> Duration {
    let initial = cfg.backoff_initial_ms.max(1) as f64;
    let cap = (cfg.backoff_max_secs.max(1) * 1000) as f64;
    let exp = attempts.saturating_sub(1).min(40) as i32;
    let full = (initial * 2f64.powi(exp)).min(cap);
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.5
    };
    Duration::from_millis((full / 2.0 + full / 2.0 * random) as u64)
}

/// Reads a `Retry-After` value: seconds, or an HTTP date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`) taken relative to `now`. Anything else
/// is ignored (`None`).
pub fn parse_retry_after(value: &str, now: Millis) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = overgang_timefmt::parse_imf_fixdate(v)?;
    Some(Duration::from_millis(u64::try_from(at - now).unwrap_or(0)))
}

/// Facts about the delivery the policy needs.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// Attempts made, this one included.
    pub attempts: u32,
    pub window_start: Millis,
    /// A message (an AppRec may answer it) or a receipt (none does).
    pub is_receipt: bool,
    /// The original message's `MsgId`, to check an AppRec answers it.
    pub msg_id: Option<&'a str>,
    /// Whether the sender has a callback endpoint (its HER-id), so an
    /// AppRec is queued to it.
    pub callback_to: Option<&'a str>,
}

/// Turns an attempt's answer into what the store records.
pub fn judge(
    cfg: &DeliveryConfig,
    ctx: &Context<'_>,
    answer: Answer,
    now: Millis,
    random: f64,
) -> AttemptResult {
    let failure = match answer {
        Answer::Http {
            status,
            retry_after,
            body,
        } => match classify(status) {
            StatusClass::Success => return success(ctx, body),
            StatusClass::Retry => (
                format!("mottakeren svarte HTTP {status} / the receiver answered HTTP {status}"),
                retry_after,
            ),
            StatusClass::Refused => {
                return AttemptResult::DeadLetter {
                    error: format!(
                        "mottakeren avviste leveringen med HTTP {status}; å sende den igjen hjelper ikke før feilen er rettet / the receiver refused the delivery with HTTP {status}; sending it again will not help until the fault is fixed"
                    ),
                }
            }
        },
        Answer::Transport(why) => (
            format!("ingen forbindelse / no connection: {why}"),
            None,
        ),
        Answer::NoRoute(why) => (why, None),
    };
    retry_or_give_up(cfg, ctx, failure.0, failure.1, now, random)
}

fn success(ctx: &Context<'_>, body: Vec<u8>) -> AttemptResult {
    if ctx.is_receipt {
        return AttemptResult::Delivered;
    }
    let limits = overgang_xml::Limits {
        max_bytes: body.len().max(1),
        ..Default::default()
    };
    let Ok(apprec) = overgang_apprec::read(&body, &limits) else {
        // An empty answer (202) or something else: the AppRec comes later.
        return AttemptResult::Delivered;
    };
    let (Some(status), Some(original)) = (apprec.status, apprec.original_msg_id()) else {
        return AttemptResult::Delivered;
    };
    if ctx.msg_id.map(str::trim) != Some(original.trim()) {
        // An AppRec, but for another message: not this one's answer.
        return AttemptResult::Delivered;
    }
    let from_her = apprec.sender.as_ref().and_then(|p| {
        p.dept_id
            .as_deref()
            .or(p.person_id.as_deref())
            .or(p.inst_id.as_deref())
            .map(|s| s.trim().to_string())
    });
    AttemptResult::Answered(NewReceipt {
        status: status.code().parse().unwrap_or(2),
        apprec_msg_id: apprec.id.clone(),
        from_her,
        via: "sync",
        body,
        callback_to: ctx.callback_to.map(str::to_string),
    })
}

fn retry_or_give_up(
    cfg: &DeliveryConfig,
    ctx: &Context<'_>,
    error: String,
    retry_after: Option<Duration>,
    now: Millis,
    random: f64,
) -> AttemptResult {
    let max_age = i64::try_from(cfg.max_age_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let deadline = ctx.window_start.saturating_add(max_age);
    if cfg.max_attempts > 0 && ctx.attempts >= cfg.max_attempts {
        return AttemptResult::DeadLetter {
            error: format!(
                "{error}; gitt opp etter {n} forsøk / gave up after {n} attempts",
                n = ctx.attempts
            ),
        };
    }
    if now >= deadline {
        let h = cfg.max_age_hours;
        return AttemptResult::DeadLetter {
            error: format!("{error}; gitt opp etter {h} timer / gave up after {h} hours"),
        };
    }
    let mut pause = backoff(cfg, ctx.attempts, random);
    if let Some(ra) = retry_after {
        pause = pause.max(ra.min(Duration::from_secs(cfg.retry_after_max_secs)));
    }
    let next = now
        .saturating_add(i64::try_from(pause.as_millis()).unwrap_or(i64::MAX))
        .min(deadline);
    let secs = (next - now + 999) / 1000;
    AttemptResult::Retry {
        next_attempt_at: next,
        error: format!("{error}; nytt forsøk om {secs} s / next attempt in {secs} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DeliveryConfig {
        DeliveryConfig::default()
    }

    fn ctx(attempts: u32) -> Context<'static> {
        Context {
            attempts,
            window_start: 0,
            is_receipt: false,
            msg_id: Some("m-1"),
            callback_to: None,
        }
    }

    fn http(status: u16) -> Answer {
        Answer::Http {
            status,
            retry_after: None,
            body: Vec::new(),
        }
    }

    #[test]
    fn statuses_are_classified_as_the_issue_says() {
        for s in [200, 201, 202, 204] {
            assert_eq!(classify(s), StatusClass::Success, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify(s), StatusClass::Retry, "{s}");
        }
        for s in [100, 301, 302, 400, 401, 403, 404, 409, 413, 422] {
            assert_eq!(classify(s), StatusClass::Refused, "{s}");
        }
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let c = cfg(); // 1 s initial, 300 s cap
        assert_eq!(backoff(&c, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&c, 1, 1.0), Duration::from_millis(1000));
        assert_eq!(backoff(&c, 2, 1.0), Duration::from_millis(2000));
        assert_eq!(backoff(&c, 4, 1.0), Duration::from_millis(8000));
        assert_eq!(backoff(&c, 30, 1.0), Duration::from_secs(300));
        assert_eq!(backoff(&c, u32::MAX, 0.0), Duration::from_secs(150));
        assert_eq!(backoff(&c, 3, f64::NAN), Duration::from_millis(3000));
        let a = backoff(&c, 5, 0.1);
        let b = backoff(&c, 5, 0.9);
        assert!(a < b && a >= Duration::from_secs(8) && b <= Duration::from_secs(16));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(Duration::ZERO));
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        let now = 784_111_777_000 - 30_000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 60_000),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        for bad in ["", "-1", "soon", "1.5", "Sun, 06 Nov 1994 25:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn retryable_answers_are_retried_with_backoff_and_retry_after() {
        let c = cfg();
        let r = judge(&c, &ctx(1), http(503), 10_000, 1.0);
        assert!(
            matches!(&r, AttemptResult::Retry { next_attempt_at: 11_000, error } if error.contains("HTTP 503")),
            "{r:?}"
        );
        let ra = Answer::Http {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
            body: Vec::new(),
        };
        let r = judge(&c, &ctx(1), ra, 10_000, 1.0);
        assert!(
            matches!(
                r,
                AttemptResult::Retry {
                    next_attempt_at: 17_000,
                    ..
                }
            ),
            "{r:?}"
        );
        // A hostile Retry-After is capped (default one hour).
        let huge = Answer::Http {
            status: 503,
            retry_after: Some(Duration::from_secs(10_000_000)),
            body: Vec::new(),
        };
        let r = judge(&c, &ctx(1), huge, 0, 1.0);
        assert!(
            matches!(
                r,
                AttemptResult::Retry {
                    next_attempt_at: 3_600_000,
                    ..
                }
            ),
            "{r:?}"
        );
        let t = judge(&c, &ctx(2), Answer::Transport("refused".into()), 0, 1.0);
        assert!(
            matches!(
                t,
                AttemptResult::Retry {
                    next_attempt_at: 2000,
                    ..
                }
            ),
            "{t:?}"
        );
        let n = judge(&c, &ctx(1), Answer::NoRoute("no endpoint".into()), 0, 1.0);
        assert!(matches!(n, AttemptResult::Retry { .. }), "{n:?}");
    }

    #[test]
    fn other_4xx_is_dead_lettered_at_once() {
        let r = judge(&cfg(), &ctx(1), http(400), 0, 0.5);
        assert!(
            matches!(&r, AttemptResult::DeadLetter { error } if error.contains("HTTP 400")),
            "{r:?}"
        );
    }

    #[test]
    fn attempts_and_age_run_out() {
        let c = DeliveryConfig {
            max_attempts: 3,
            ..cfg()
        };
        assert!(matches!(
            judge(&c, &ctx(2), http(503), 0, 0.5),
            AttemptResult::Retry { .. }
        ));
        let r = judge(&c, &ctx(3), http(503), 0, 0.5);
        assert!(
            matches!(&r, AttemptResult::DeadLetter { error } if error.contains("3 attempts")),
            "{r:?}"
        );
        // Default: no attempt limit, 72 hours.
        let c = cfg();
        let h72 = 72 * 3_600_000;
        assert!(matches!(
            judge(&c, &ctx(500), http(503), h72 - 1, 0.5),
            AttemptResult::Retry { next_attempt_at, .. } if next_attempt_at == h72
        ));
        let r = judge(&c, &ctx(501), http(503), h72, 0.5);
        assert!(
            matches!(&r, AttemptResult::DeadLetter { error } if error.contains("72 hours")),
            "{r:?}"
        );
    }
}
