//! The words the pages use for states and statuses, in both languages, and
//! the small pieces of markup several pages share.

use maud::{html, Markup};
use overgang_model::Lang;
use overgang_store::{DeliveryState, State};

use super::t;

/// A message's state as people say it.
pub fn message_state(lang: Lang, s: State) -> &'static str {
    match s {
        State::Accepted => t(lang, "Mottatt", "Accepted"),
        State::Rejected => t(lang, "Avvist ved mottak", "Rejected at intake"),
        State::Queued => t(lang, "I kø", "Queued"),
        State::Delivering => t(lang, "Leveres", "Delivering"),
        State::Delivered => t(
            lang,
            "Levert, venter på kvittering",
            "Delivered, awaiting receipt",
        ),
        State::Acknowledged => t(lang, "Kvittert", "Acknowledged"),
        State::RejectedByReceiver => t(lang, "Avvist av mottaker", "Rejected by receiver"),
        State::DeadLettered => t(lang, "Levering feilet", "Delivery failed"),
        State::Cancelled => t(lang, "Kansellert", "Cancelled"),
        State::Deleted => t(lang, "Slettet (oppbevaringstid)", "Deleted (retention)"),
    }
}

/// A delivery's state as people say it.
pub fn delivery_state(lang: Lang, s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Queued => t(lang, "I kø", "Queued"),
        DeliveryState::InFlight => t(lang, "Sendes nå", "In flight"),
        DeliveryState::Delivered => t(
            lang,
            "Levert, venter på kvittering",
            "Delivered, awaiting receipt",
        ),
        DeliveryState::Acknowledged => t(lang, "Kvittert", "Acknowledged"),
        DeliveryState::AcknowledgedWithErrors => {
            t(lang, "Kvittert med merknader", "Acknowledged with remarks")
        }
        DeliveryState::RejectedByReceiver => t(lang, "Avvist av mottaker", "Rejected by receiver"),
        DeliveryState::DeadLetter => t(lang, "Levering feilet", "Delivery failed"),
        DeliveryState::Cancelled => t(lang, "Kansellert", "Cancelled"),
    }
}

/// An AppRec status (list 8258) as people say it.
pub fn receipt_status(lang: Lang, status: u8) -> &'static str {
    match status {
        1 => t(lang, "OK", "OK"),
        2 => t(lang, "Avvist", "Rejected"),
        3 => t(lang, "OK med merknader", "OK with remarks"),
        _ => t(lang, "Ukjent status", "Unknown status"),
    }
}

/// The CSS class of a state badge: good, waiting, bad or neutral.
pub fn state_tone(s: State) -> &'static str {
    match s {
        State::Acknowledged => "good",
        State::Accepted | State::Queued | State::Delivering | State::Delivered => "wait",
        State::Rejected | State::RejectedByReceiver | State::DeadLettered => "bad",
        State::Cancelled | State::Deleted => "neutral",
    }
}

pub fn delivery_tone(s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Acknowledged => "good",
        DeliveryState::AcknowledgedWithErrors => "warn",
        DeliveryState::Queued | DeliveryState::InFlight | DeliveryState::Delivered => "wait",
        DeliveryState::RejectedByReceiver | DeliveryState::DeadLetter => "bad",
        DeliveryState::Cancelled => "neutral",
    }
}

pub fn state_badge(lang: Lang, s: State) -> Markup {
    html! { span class={ "badge " (state_tone(s)) } { (message_state(lang, s)) } }
}

pub fn delivery_badge(lang: Lang, s: DeliveryState) -> Markup {
    html! { span class={ "badge " (delivery_tone(s)) } { (delivery_state(lang, s)) } }
}

/// Counts of findings as two badges (nothing when there are none).
pub fn findings_badges(lang: Lang, errors: u32, warnings: u32) -> Markup {
    html! {
        @if errors > 0 {
            span.badge.bad title=(t(lang, "Feil", "Errors")) {
                (errors) " " (if errors == 1 { t(lang, "feil", "error") } else { t(lang, "feil", "errors") })
            }
            " "
        }
        @if warnings > 0 {
            span.badge.warn title=(t(lang, "Advarsler", "Warnings")) {
                (warnings) " " (if warnings == 1 { t(lang, "advarsel", "warning") } else { t(lang, "advarsler", "warnings") })
            }
        }
        @if errors == 0 && warnings == 0 {
            span.muted { "–" }
        }
    }
}

/// A time for people: Norwegian local time, with the UTC instant as the
/// element's machine-readable value.
pub fn when(ms: i64) -> Markup {
    html! {
        time datetime=(overgang_timefmt::rfc3339_millis(ms)) { (overgang_timefmt::oslo_minutes(ms)) }
    }
}

/// A HER-id with the name the registry gives it.
pub fn party(registry: &overgang_registry::Registry, her: Option<&str>) -> Markup {
    match her {
        None => html! { span.muted { "–" } },
        Some(h) => match registry.get(h) {
            Some(p) => {
                html! { span title={ "HER " (h) } { (p.name) } " " span.muted.code { "(" (h) ")" } }
            }
            None => html! { span { "HER " (h) } },
        },
    }
}

/// A table's header row: one column heading per (bokmål, English) pair.
pub fn column_heads(lang: Lang, heads: &[(&'static str, &'static str)]) -> Markup {
    html! {
        thead { tr { @for (nb, en) in heads { th scope="col" { (t(lang, nb, en)) } } } }
    }
}

/// The message-type filter: every type of list 8279, "all" first.
pub fn type_select(lang: Lang, types: &[(String, String)], selected: Option<&str>) -> Markup {
    html! {
        div.field {
            label for="type" { (t(lang, "Meldingstype", "Message type")) }
            select #type name="type" {
                option value="" { (t(lang, "Alle", "All")) }
                @for (code, name) in types {
                    option value=(code) selected[selected == Some(code.as_str())] { (name) }
                }
            }
        }
    }
}

/// The "from date" and "to date" filters (`from`, `to`; `YYYY-MM-DD`).
pub fn date_range(lang: Lang, from: &str, to: &str) -> Markup {
    html! {
        div.field {
            label for="from" { (t(lang, "Fra dato", "From date")) }
            input #from type="date" name="from" value=(from);
        }
        div.field {
            label for="to" { (t(lang, "Til dato", "To date")) }
            input #to type="date" name="to" value=(to);
        }
    }
}
