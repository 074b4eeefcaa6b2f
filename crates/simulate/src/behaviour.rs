//! What the simulated receiver does with what it is sent, and how it is
//! written on the command line and in `POST /_sim/behaviour`.

use crate::SimulateError;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the receiver answers.
///
/// Transport behaviours (`Flaky`'s failures, `Slow`'s wait, `Down`, `Http`,
/// `RetryAfter`) apply to every message and receipt request; the receipt a
/// message gets (`Ok`, `Reject`, `Warn`, `Async`) applies to messages only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// `ok`: 200 and an AppRec with status 1.
    Ok,
    /// `reject`: 200 and an AppRec with status 2 (the receiving application
    /// rejects the message), with an `X99` error.
    Reject,
    /// `warn`: 200 and an AppRec with status 3, with an `X99` error.
    Warn,
    /// `flaky:P`: with probability P (0..=1) 503 with `Retry-After: 1` and
    /// no receipt, else as `Ok`.
    Flaky(f64),
    /// `slow:MS`: receive and record the message, wait, then answer as `Ok`.
    Slow(Duration),
    /// `down`: accept each connection and close it without an answer.
    Down,
    /// `async`: 202 with no body, then the AppRec posted to the gateway.
    Async,
    /// `http:CODE`: that HTTP status (200..=599) with no body and no receipt.
    Http(u16),
    /// `retry-after:SECS`: 503 with `Retry-After: SECS` and no receipt.
    RetryAfter(u32),
}

/// Every form, for error texts and help.
pub const FORMS: &str = "ok|reject|warn|flaky:P|slow:MS|down|async|http:CODE|retry-after:SECS";

fn bad(input: &str, nb: &str, en: &str) -> SimulateError {
    // The input is the operator's own text (a command-line argument or a
    // control request), never message content; kept short all the same.
    let shown: String = input.chars().filter(|c| !c.is_control()).take(40).collect();
    SimulateError::Behaviour {
        input: shown,
        reason: format!("{nb} / {en}"),
    }
}

fn probability(input: &str, p: &str) -> Result<f64, SimulateError> {
    let p = p.trim();
    let (number, scale) = match p.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (p, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| {
        bad(
            input,
            "sannsynligheten må være et tall fra 0 til 1 eller en prosent (0.3 eller 30%)",
            "the probability must be a number from 0 to 1 or a percentage (0.3 or 30%)",
        )
    })?;
    let value = value / scale;
    if !value.is_finite() || !(0.0..=1.0).contains(&value) {
        return Err(bad(
            input,
            "sannsynligheten må være fra 0 til 1 (0 % til 100 %)",
            "the probability must be from 0 to 1 (0% to 100%)",
        ));
    }
    Ok(value)
}

impl FromStr for Behaviour {
    type Err = SimulateError;

    /// Reads `ok|reject|warn|flaky:P|slow:MS|down|async|http:CODE|retry-after:SECS`
    /// (case and surrounding spaces ignored). `P` is `0.3` or `30%`; `MS`
    /// may end in `ms`.
    fn from_str(input: &str) -> Result<Behaviour, SimulateError> {
        let s = input.trim().to_ascii_lowercase();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.as_str(), None),
        };
        let needs = |what_nb: &str, what_en: &str| {
            bad(
                input,
                &format!("«{name}» trenger {what_nb} etter kolon"),
                &format!("«{name}» needs {what_en} after a colon"),
            )
        };
        let takes_none = || {
            bad(
                input,
                &format!("«{name}» tar ingen verdi"),
                &format!("«{name}» takes no value"),
            )
        };
        match (name, arg) {
            ("ok", None) => Ok(Behaviour::Ok),
            ("reject", None) => Ok(Behaviour::Reject),
            ("warn", None) => Ok(Behaviour::Warn),
            ("down", None) => Ok(Behaviour::Down),
            ("async", None) => Ok(Behaviour::Async),
            ("ok" | "reject" | "warn" | "down" | "async", Some(_)) => Err(takes_none()),
            ("flaky", None | Some("")) => Err(needs(
                "en sannsynlighet (flaky:0.3 eller flaky:30%)",
                "a probability (flaky:0.3 or flaky:30%)",
            )),
            ("flaky", Some(p)) => probability(input, p).map(Behaviour::Flaky),
            ("slow", None | Some("")) => {
                Err(needs("millisekunder (slow:500)", "milliseconds (slow:500)"))
            }
            ("slow", Some(ms)) => {
                let ms = ms.strip_suffix("ms").unwrap_or(ms).trim();
                let ms: u64 = ms.parse().map_err(|_| {
                    bad(
                        input,
                        "ventetiden må være et helt antall millisekunder (slow:500)",
                        "the wait must be a whole number of milliseconds (slow:500)",
                    )
                })?;
                Ok(Behaviour::Slow(Duration::from_millis(ms)))
            }
            ("http", None | Some("")) => Err(needs(
                "en HTTP-statuskode (http:503)",
                "an HTTP status code (http:503)",
            )),
            ("http", Some(code)) => match code.parse::<u16>() {
                Ok(c) if (200..=599).contains(&c) => Ok(Behaviour::Http(c)),
                _ => Err(bad(
                    input,
                    "HTTP-statuskoden må være fra 200 til 599",
                    "the HTTP status code must be from 200 to 599",
                )),
            },
            ("retry-after", None | Some("")) => {
                Err(needs("sekunder (retry-after:5)", "seconds (retry-after:5)"))
            }
            ("retry-after", Some(secs)) => {
                secs.parse::<u32>().map(Behaviour::RetryAfter).map_err(|_| {
                    bad(
                        input,
                        "Retry-After må være et helt antall sekunder (retry-after:5)",
                        "Retry-After must be a whole number of seconds (retry-after:5)",
                    )
                })
            }
            _ => Err(bad(
                input,
                &format!("ukjent oppførsel; bruk {FORMS}"),
                &format!("unknown behaviour; use {FORMS}"),
            )),
        }
    }
}

impl fmt::Display for Behaviour {
    /// The form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Ok => f.write_str("ok"),
            Behaviour::Reject => f.write_str("reject"),
            Behaviour::Warn => f.write_str("warn"),
            Behaviour::Flaky(p) => write!(f, "flaky:{p}"),
            Behaviour::Slow(d) => write!(f, "slow:{}", d.as_millis()),
            Behaviour::Down => f.write_str("down"),
            Behaviour::Async => f.write_str("async"),
            Behaviour::Http(c) => write!(f, "http:{c}"),
            Behaviour::RetryAfter(s) => write!(f, "retry-after:{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Behaviour {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_form_is_read() {
        assert_eq!(parse("ok"), Behaviour::Ok);
        assert_eq!(parse(" Reject\n"), Behaviour::Reject);
        assert_eq!(parse("WARN"), Behaviour::Warn);
        assert_eq!(parse("down"), Behaviour::Down);
        assert_eq!(parse("async"), Behaviour::Async);
        assert_eq!(parse("flaky:0.3"), Behaviour::Flaky(0.3));
        assert_eq!(parse("flaky:30%"), Behaviour::Flaky(0.3));
        assert_eq!(parse("flaky: 100 %"), Behaviour::Flaky(1.0));
        assert_eq!(parse("flaky:0"), Behaviour::Flaky(0.0));
        assert_eq!(
            parse("slow:250"),
            Behaviour::Slow(Duration::from_millis(250))
        );
        assert_eq!(
            parse("slow:250ms"),
            Behaviour::Slow(Duration::from_millis(250))
        );
        assert_eq!(parse("http:503"), Behaviour::Http(503));
        assert_eq!(parse("http:400"), Behaviour::Http(400));
        assert_eq!(parse("retry-after:7"), Behaviour::RetryAfter(7));
    }

    #[test]
    fn display_reads_back() {
        for s in [
            "ok",
            "reject",
            "warn",
            "flaky:0.25",
            "slow:1500",
            "down",
            "async",
            "http:429",
            "retry-after:3",
        ] {
            let b = parse(s);
            assert_eq!(b.to_string(), s);
            assert_eq!(parse(&b.to_string()), b);
        }
    }

    #[test]
    fn bad_forms_are_refused_with_a_reason_in_both_languages() {
        for (input, nb, en) in [
            ("", "ukjent oppførsel", "unknown behaviour"),
            ("fast", "ukjent oppførsel", "unknown behaviour"),
            ("flaky", "trenger en sannsynlighet", "needs a probability"),
            ("flaky:", "trenger en sannsynlighet", "needs a probability"),
            ("flaky:1.5", "fra 0 til 1", "from 0 to 1"),
            ("flaky:-0.1", "fra 0 til 1", "from 0 to 1"),
            ("flaky:150%", "fra 0 til 1", "from 0 to 1"),
            ("flaky:NaN", "fra 0 til 1", "from 0 to 1"),
            ("flaky:often", "et tall fra 0 til 1", "a number from 0 to 1"),
            ("slow", "trenger millisekunder", "needs milliseconds"),
            (
                "slow:-5",
                "helt antall millisekunder",
                "whole number of milliseconds",
            ),
            (
                "slow:1.5s",
                "helt antall millisekunder",
                "whole number of milliseconds",
            ),
            ("http:42", "fra 200 til 599", "from 200 to 599"),
            ("http:600", "fra 200 til 599", "from 200 to 599"),
            ("http:abc", "fra 200 til 599", "from 200 to 599"),
            (
                "http",
                "trenger en HTTP-statuskode",
                "needs an HTTP status code",
            ),
            (
                "retry-after:soon",
                "helt antall sekunder",
                "whole number of seconds",
            ),
            ("ok:1", "tar ingen verdi", "takes no value"),
        ] {
            let e = input.parse::<Behaviour>().expect_err(input).to_string();
            assert!(e.contains(nb) && e.contains(en), "{input}: {e}");
        }
    }

    #[test]
    fn errors_do_not_echo_long_input() {
        let long = "x".repeat(500);
        let e = long.parse::<Behaviour>().expect_err("long").to_string();
        assert!(e.len() < 400, "{e}");
    }
}
