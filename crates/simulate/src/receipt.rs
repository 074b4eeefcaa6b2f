//! The application receipts the simulated receiver writes, with
//! `overgang-apprec` (so they answer the message the way the gateway's own
//! do: sender and receiver swapped, `OriginalMsgId` = the message's MsgId).

use crate::SimulateError;
use overgang_apprec::{AppRecOptions, AppRecStatus, AppRecVersion, NewReceipt};
use overgang_codelists::CodeLists;
use overgang_model::{Category, Finding, Message, Severity};

/// What the receiving application decided about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Accept,
    Reject,
    Warn,
    /// The body is not XML: T01.
    Unreadable,
    /// No MsgId to answer or to deduplicate on: E10.
    NoMsgId,
}

/// The finding behind a decision: our texts, Norwegian with English beside
/// (the AppRec's `OT` carries the Norwegian field, so both languages go there).
fn finding(decision: Decision) -> Option<Finding> {
    let (code, category, severity, apprec, nb, en) = match decision {
        Decision::Accept => return None,
        Decision::Reject => (
            "SIM-AVVIST",
            Category::Profile,
            Severity::Error,
            "X99",
            "Simulert avvisning: mottakersystemet avviste meldingen",
            "simulated rejection: the receiving system rejected the message",
        ),
        Decision::Warn => (
            "SIM-ADVARSEL",
            Category::Profile,
            Severity::Warning,
            "X99",
            "Simulert advarsel: mottakersystemet tok imot meldingen, men kunne ikke lese en del av den",
            "simulated warning: the receiving system took the message but could not read part of it",
        ),
        Decision::Unreadable => (
            "SIM-IKKE-XML",
            Category::Wellformedness,
            Severity::Error,
            "T01",
            "Mottakersystemet kunne ikke lese meldingen som XML",
            "the receiving system could not read the message as XML",
        ),
        Decision::NoMsgId => (
            "SIM-MSGID",
            Category::Profile,
            Severity::Error,
            "E10",
            "Meldingen mangler meldingsidentifikator (MsgId)",
            "the message has no message id (MsgId)",
        ),
    };
    Some(Finding::new(code, category, severity, format!("{nb} ({en})"), en).apprec(apprec))
}

/// A written receipt.
#[derive(Clone, Debug)]
pub(crate) struct Written {
    pub(crate) id: String,
    pub(crate) status: AppRecStatus,
    pub(crate) xml: String,
}

/// Writes the AppRec that answers `message` with `decision`, stamped `now_ms`.
pub(crate) fn write(
    message: &Message,
    decision: Decision,
    version: AppRecVersion,
    lists: &CodeLists,
    now_ms: i64,
) -> Result<Written, SimulateError> {
    let id = uuid::Uuid::new_v4().to_string();
    let gen_date = overgang_timefmt::xs_datetime(now_ms.div_euclid(1000));
    let opts = AppRecOptions {
        version,
        status3_for_warnings: true,
        software_name: Some("Overgang mottakersimulator".to_owned()),
        software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        ..AppRecOptions::default()
    };
    let findings: Vec<Finding> = finding(decision).into_iter().collect();
    let rec = overgang_apprec::build_with(
        message,
        &findings,
        &NewReceipt {
            msg_id: &id,
            gen_date: &gen_date,
        },
        &opts,
        lists,
    )
    .map_err(|e| SimulateError::AppRec(e.to_string()))?;
    Ok(Written {
        id,
        status: rec.status,
        xml: rec.xml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        use overgang_timefmt::xs_datetime;
        assert_eq!(xs_datetime(1_795_453_509), "2026-11-23T17:05:09Z");
        assert!(overgang_apprec::is_xs_datetime(&xs_datetime(4_102_444_799)));
    }

    #[test]
    fn each_decision_gives_its_status_and_code() {
        let lists = CodeLists::builtin();
        let m = Message::default();
        for (d, status, code) in [
            (Decision::Accept, "1", None),
            (Decision::Reject, "2", Some("X99")),
            (Decision::Warn, "3", Some("X99")),
            (Decision::Unreadable, "2", Some("T01")),
            (Decision::NoMsgId, "2", Some("E10")),
        ] {
            let w = write(&m, d, AppRecVersion::V1_1, &lists, 1_700_000_000_000).expect("write");
            assert_eq!(w.status.code(), status, "{d:?}");
            assert!(w.xml.contains(&format!("<Status V=\"{status}\"")), "{d:?}");
            match code {
                None => assert!(!w.xml.contains("<Error"), "{d:?}"),
                Some(c) => {
                    assert!(w.xml.contains(&format!("<Error V=\"{c}\"")), "{d:?}");
                    // Both languages in OT.
                    let f = finding(d).expect("a finding");
                    assert!(f.text_nb.contains(&f.text_en), "{d:?}");
                    assert!(
                        w.xml.contains(&format!("OT=\"{}\"", f.text_nb)),
                        "{}",
                        w.xml
                    );
                }
            }
            assert!(w.xml.contains(&format!("<Id>{}</Id>", w.id)));
        }
    }
}
