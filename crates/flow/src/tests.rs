//! Scripted journeys built from the official PLO v1.6 examples (read at run
//! time from `../shared/standards`, never copied), with fake times.

use super::*;
use overgang_model::Message;
use overgang_xml::Limits;
use std::path::{Path, PathBuf};

const HOSPITAL: &str = "100001";
const WARD: &str = "100002";
const OFFICE: &str = "200001";
const KOMMUNE: &str = "5001";
const HOUR: i64 = 3_600_000;

fn examples_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/standards/examples/plo-1.6");
    assert!(
        dir.is_dir(),
        "the public standards are missing: expected {} (see ../shared/standards/README.md)",
        dir.display()
    );
    dir
}

fn example(name: &str) -> Message {
    let path = examples_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = overgang_xml::parse(&bytes, &Limits::default()).expect("the example parses");
    Message::read(&doc)
}

/// Norwegian local time, `2018-01-29T10:00:00` or a date.
fn at(s: &str) -> i64 {
    time::parse_plo_time(s).expect("a test time").ms
}

/// One official example as a fact of `patient`, received at `received`.
/// The examples name different organisations; here they all play between
/// one hospital and one municipality, and message ids get the patient as
/// a prefix so several journeys can reuse an example.
fn fact(file: &str, id: &str, received: &str, patient: &str) -> Fact {
    let m = example(file);
    let mut f = fact_of(
        &m,
        FactInput {
            message_id: id.to_owned(),
            received_at: at(received),
            patient_key: Some(patient.to_owned()),
            ..FactInput::default()
        },
    );
    let hospital = HerRef {
        org: Some(HOSPITAL.to_owned()),
        unit: Some(WARD.to_owned()),
    };
    let municipal = HerRef {
        org: Some(OFFICE.to_owned()),
        unit: None,
    };
    if f.kind() == "INNLEGGELSESRAPPORT" {
        f.sender = municipal;
        f.receiver = hospital;
        f.sender_municipality = Some(KOMMUNE.to_owned());
    } else {
        f.sender = hospital;
        f.receiver = municipal;
        f.receiver_municipality = Some(KOMMUNE.to_owned());
    }
    let prefix = |s: &mut Option<String>| {
        if let Some(v) = s.as_mut() {
            *v = format!("{patient}-{v}");
        }
    };
    prefix(&mut f.msg_id);
    prefix(&mut f.ref_to_parent);
    prefix(&mut f.ref_to_conversation);
    f
}

/// The municipality's answer to a ready notice (v1.6: a Dialogmelding;
/// there is no official example of it in the PLO set).
fn answer(id: &str, received: &str, patient: &str, parent: Option<&str>) -> Fact {
    Fact {
        message_id: id.to_owned(),
        received_at: at(received),
        msg_type: Some("DIALOG_NOTAT".to_owned()),
        standard: Some("Dialogmelding".to_owned()),
        version: Some("1.1".to_owned()),
        sender: HerRef {
            org: Some(OFFICE.to_owned()),
            unit: None,
        },
        receiver: HerRef {
            org: Some(HOSPITAL.to_owned()),
            unit: Some(WARD.to_owned()),
        },
        copies: vec![],
        copy_to_gp: false,
        receiver_is_gp: false,
        sender_municipality: Some(KOMMUNE.to_owned()),
        receiver_municipality: None,
        patient_key: Some(patient.to_owned()),
        msg_id: Some(format!("{patient}-answer-{id}")),
        ref_to_parent: parent.map(|p| format!("{patient}-{p}")),
        ref_to_conversation: parent.map(|p| format!("{patient}-{p}")),
        status: None,
        notice: None,
        events: vec![],
        assessments: vec![],
        positive_apprec_at: None,
    }
}

fn shipped() -> FlowConfig {
    FlowConfig::parse(include_str!("../../../config/flow.toml")).expect("config/flow.toml")
}

const INNLAGT: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml";
const INNLAGT_C: &str = "Pasientlogistikk_Innlagt_pasient_v1-6_Kansellering.xml";
const RAPPORT: &str = "Innleggelsesrapport_v1-6_Ny.xml";
const RAPPORT_E: &str = "Innleggelsesrapport_v1-6_Endring.xml";
const RAPPORT_C: &str = "Innleggelsesrapport_v1-6_Kansellering.xml";
const KLAR: &str = "Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml";
const AVMELDING: &str = "Pasientlogistikk_Avmelding_av_utskrivningsklar_pasient_v1-6_Ny.xml";
const UTSKREVET: &str = "Pasientlogistikk_Melding_om_utskrevet_pasient_v1-6_Ny.xml";
const EPIKRISE: &str = "Utskrivningsrapport_v1-6_Ny.xml";
const DOD: &str = "Pasientlogistikk_Orientering_om_dodsfall_v1-6_Ny.xml";
const KLAR_MSG: &str = "79c55ed0-0692-11e8-b566-0800200c9a66";

/// Admission → report → ready → answer → discharge, everything on time.
fn happy(p: &str) -> Vec<Fact> {
    let mut klar = fact(KLAR, &format!("{p}-3"), "2018-01-31T09:00:00", p);
    klar.positive_apprec_at = Some(at("2018-01-31T09:01:00"));
    let mut report = fact(EPIKRISE, &format!("{p}-5"), "2018-02-01T12:00:00", p);
    report.copy_to_gp = true;
    vec![
        fact(INNLAGT, &format!("{p}-1"), "2018-01-29T10:05:00", p),
        fact(RAPPORT, &format!("{p}-2"), "2018-01-29T15:00:00", p),
        klar,
        answer(&format!("{p}-4"), "2018-01-31T11:00:00", p, Some(KLAR_MSG)),
        report,
        fact(UTSKREVET, &format!("{p}-6"), "2018-02-01T13:00:00", p),
    ]
}

#[test]
fn fact_of_reads_the_official_notice() {
    let f = fact(KLAR, "g1", "2018-01-31T09:00:00", "p");
    assert_eq!(f.msg_type.as_deref(), Some("LOG_UTSKRIVNINGSKLAR"));
    assert_eq!(f.standard.as_deref(), Some("Pasientlogistikk"));
    assert_eq!(f.version.as_deref(), Some("1.6"));
    assert_eq!(f.notice.as_deref(), Some("MeldingUtskrivningsklarPasient"));
    assert_eq!(f.status.as_deref(), Some("N"));
    assert_eq!(f.event_at("1"), Some(at("2018-01-29T10:00:00")));
    assert_eq!(f.event_at("3"), Some(at("2018-01-31")));
    assert!(f.events.iter().any(|e| e.code == "3" && e.date_only));

    let c = fact_of(&example(INNLAGT_C), FactInput::default());
    assert_eq!(c.status.as_deref(), Some("C"));
    assert_eq!(
        c.ref_to_parent.as_deref(),
        Some("b088a160-0698-11e8-b566-0800200c9a66")
    );
    assert!(c.sender.org.is_some() && c.receiver.org.is_some());
}

#[test]
fn assessments_take_their_date_from_the_overall_comment() {
    let f = fact(RAPPORT, "g", "2018-01-29T15:00:00", "p");
    assert!(!f.assessments.is_empty());
    let v1 = f
        .assessments
        .iter()
        .find(|a| a.variable == 1)
        .expect("variable 1");
    assert_eq!(v1.score, Some(3));
    assert_eq!(v1.date.as_deref(), Some("2018-01-22"));
    assert_eq!(v1.date_ms, Some(at("2018-01-22")));
    assert_eq!(v1.source, AssessmentSource::Plo);
}

#[test]
fn facts_round_trip_as_json_without_names_or_national_ids() {
    let f = fact(RAPPORT, "g", "2018-01-29T15:00:00", "p");
    let json = serde_json::to_string(&f).expect("serialises");
    let back: Fact = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, f);
    // The example's patient: no name or national id may leave in a fact.
    let bytes = std::fs::read(examples_dir().join(RAPPORT)).expect("example");
    let text = String::from_utf8_lossy(&bytes);
    for tag in ["<GivenName>", "<FamilyName>"] {
        let Some(start) = text.find(tag) else {
            continue;
        };
        let rest = &text[start + tag.len()..];
        let name = &rest[..rest.find('<').unwrap_or(0)];
        assert!(!name.is_empty() && !json.contains(name), "{tag} leaked");
    }
    let m = example(RAPPORT);
    for id in m
        .head
        .iter()
        .flat_map(|h| h.patient.iter())
        .flat_map(|p| p.idents.iter())
    {
        if let Some(fnr) = id.id.expose() {
            assert!(!json.contains(fnr.as_str()), "national id leaked");
        }
    }
}

#[test]
fn the_whole_journey_on_time() {
    let flow = stays(&happy("p1"));
    assert!(flow.unplaced.is_empty(), "{:?}", flow.unplaced);
    assert_eq!(flow.stays.len(), 1);
    let s = &flow.stays[0];
    assert_eq!(s.patient_key, "p1");
    assert_eq!(s.hospital, HOSPITAL);
    assert_eq!(s.municipality.as_deref(), Some(KOMMUNE));
    assert_eq!(s.admitted_at, at("2018-01-29T10:00:00"));
    assert_eq!(s.ready_at, Some(at("2018-01-31")));
    assert_eq!(s.discharged_at, Some(at("2018-02-01")));
    assert_eq!(s.died_at, None);
    assert_eq!(s.state, StayState::Discharged);
    assert_eq!(s.messages.len(), 6);
    let roles: Vec<Role> = s.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::Admission,
            Role::AdmissionReport,
            Role::ReadyNotice,
            Role::Dialogue,
            Role::DischargeReport,
            Role::DischargeNotice
        ]
    );
    let answer = &s.messages[3];
    assert_eq!(answer.placement, Placement::Conversation);
    assert_eq!(
        answer.conversation.as_deref(),
        Some("p1-79c55ed0-0692-11e8-b566-0800200c9a66")
    );
    assert_eq!(answer.side, Side::Municipality);
    assert_eq!(s.messages[1].side, Side::Municipality);
    assert_eq!(s.messages[0].side, Side::Hospital);

    let cfg = shipped();
    assert_eq!(overdue(&flow, &cfg, at("2018-03-01")), vec![]);
    let rows = board(&flow, &cfg, Some(KOMMUNE), at("2018-03-01"));
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.ready_date, "2018-01-31");
    assert_eq!(r.days_waiting, 1, "ready 31.01, discharged 01.02: one day");
    assert!(!r.waiting);
    assert_eq!(r.end, Some(PeriodEnd::Discharged));
    assert_eq!(r.notified_at, Some(at("2018-01-31T09:01:00")));
    // No rate is configured for 2018: the day is counted, not priced.
    assert_eq!((r.liability_nok, r.unpriced_days), (0, 1));
    assert!(board(&flow, &cfg, Some("0301"), at("2018-03-01")).is_empty());
}

#[test]
fn a_late_admission_report_is_overdue_then_late() {
    let p = "p2";
    let mut facts = vec![fact(INNLAGT, "a", "2018-01-29T10:05:00", p)];
    let cfg = shipped();
    let before = overdue(&stays(&facts), &cfg, at("2018-01-30T10:00:00"));
    assert!(before.is_empty(), "not due yet: {before:?}");
    let items = overdue(&stays(&facts), &cfg, at("2018-01-30T12:00:00"));
    assert_eq!(items.len(), 1);
    let o = &items[0];
    assert_eq!(o.rule, "admission_report");
    assert_eq!(o.status, OverdueStatus::Overdue);
    assert_eq!(o.municipality.as_deref(), Some(KOMMUNE));
    assert_eq!(o.due_at, at("2018-01-30T10:05:00"));
    assert_eq!(o.late_by_ms, 2 * HOUR - 5 * 60_000);

    facts.push(fact(RAPPORT, "b", "2018-01-30T14:00:00", p));
    let items = overdue(&stays(&facts), &cfg, at("2018-01-30T15:00:00"));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].status, OverdueStatus::Late);
    assert_eq!(items[0].arrived_message_id.as_deref(), Some("b"));
    assert_eq!(items[0].late_by_ms, 4 * HOUR - 5 * 60_000);
}

#[test]
fn an_agreement_sets_its_own_deadline() {
    let text = format!(
        "{}\n[[agreement]]\nmunicipality = \"{KOMMUNE}\"\n[[agreement.rule]]\nid = \"admission_report\"\nwithin = \"2h\"\n",
        include_str!("../../../config/flow.toml")
    );
    let cfg = FlowConfig::parse(&text).expect("parses");
    let facts = vec![fact(INNLAGT, "a", "2018-01-29T10:05:00", "p")];
    let items = overdue(&stays(&facts), &cfg, at("2018-01-29T13:00:00"));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].due_at, at("2018-01-29T12:05:00"));
}

#[test]
fn a_ready_notice_without_an_answer_is_overdue() {
    let p = "p3";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(RAPPORT, "b", "2018-01-29T15:00:00", p),
        fact(KLAR, "c", "2018-01-31T09:00:00", p),
    ];
    let flow = stays(&facts);
    assert_eq!(flow.stays[0].state, StayState::Ready);
    let cfg = shipped();
    assert!(overdue(&flow, &cfg, at("2018-01-31T23:00:00")).is_empty());
    let items = overdue(&flow, &cfg, at("2018-02-01T08:00:00"));
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].rule, "ready_answer");
    assert_eq!(items[0].due_at, at("2018-02-01"));
    assert_eq!(items[0].status, OverdueStatus::Overdue);
    let rows = board(&flow, &cfg, None, at("2018-02-03T08:00:00"));
    assert_eq!(rows.len(), 1);
    assert!(rows[0].waiting);
    assert_eq!(rows[0].days_waiting, 3, "01.02, 02.02 and 03.02");
    assert_eq!(rows[0].notified_at, None);
}

#[test]
fn withdrawing_readiness_stops_the_clock() {
    let p = "p4";
    let mut avmelding = fact(AVMELDING, "d", "2018-02-03T10:00:00", p);
    for e in avmelding.events.iter_mut().filter(|e| e.code == "4") {
        e.at = Some(at("2018-02-03"));
    }
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(RAPPORT, "b", "2018-01-29T15:00:00", p),
        fact(KLAR, "c", "2018-01-31T09:00:00", p),
        answer("e", "2018-01-31T10:00:00", p, Some(KLAR_MSG)),
        avmelding,
    ];
    let flow = stays(&facts);
    let s = &flow.stays[0];
    assert_eq!(s.state, StayState::Open);
    assert_eq!(s.ready_cancelled_at, Some(at("2018-02-03")));
    assert_eq!(s.ready_periods[0].end, Some(PeriodEnd::Withdrawn));
    let cfg = shipped();
    for now in ["2018-02-04T12:00:00", "2018-03-01T12:00:00"] {
        let rows = board(&flow, &cfg, Some(KOMMUNE), at(now));
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].waiting);
        assert_eq!(rows[0].days_waiting, 3, "01.02–03.02, then the clock stops");
    }
    assert!(overdue(&flow, &cfg, at("2018-03-01")).is_empty());
}

#[test]
fn a_cancelled_admission_report_is_expected_again() {
    let p = "p5";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(RAPPORT, "b", "2018-01-29T15:00:00", p),
        fact(RAPPORT_E, "b2", "2018-01-29T16:00:00", p),
        fact(RAPPORT_C, "b3", "2018-01-29T17:00:00", p),
    ];
    let flow = stays(&facts);
    let s = &flow.stays[0];
    let disp: Vec<(&str, Disposition)> = s
        .messages
        .iter()
        .map(|m| (m.message_id.as_str(), m.disposition))
        .collect();
    assert_eq!(
        disp,
        [
            ("a", Disposition::Effective),
            ("b", Disposition::Cancelled),
            ("b2", Disposition::Cancelled),
            ("b3", Disposition::Cancellation)
        ]
    );
    let items = overdue(&flow, &shipped(), at("2018-01-31"));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].rule, "admission_report");
    assert_eq!(items[0].status, OverdueStatus::Overdue);
}

#[test]
fn a_change_replaces_the_report_it_names() {
    let p = "p5b";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(RAPPORT, "b", "2018-01-29T15:00:00", p),
        fact(RAPPORT_E, "b2", "2018-01-29T16:00:00", p),
    ];
    let s = &stays(&facts).stays[0];
    assert_eq!(s.messages[1].disposition, Disposition::Superseded);
    assert_eq!(s.messages[2].disposition, Disposition::Effective);
    assert!(overdue(&stays(&facts), &shipped(), at("2018-01-31")).is_empty());
}

#[test]
fn the_latest_health_information_replaces_earlier_ones() {
    let p = "p5c";
    let h = "Helseopplysninger_Varsel_om_innlagt_pasient_v1-6_Ny.xml";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(h, "h1", "2018-01-29T12:00:00", p),
        fact(h, "h2", "2018-01-30T12:00:00", p),
    ];
    let s = &stays(&facts).stays[0];
    let d: Vec<Disposition> = s.messages.iter().map(|m| m.disposition).collect();
    assert_eq!(
        d,
        [
            Disposition::Effective,
            Disposition::Superseded,
            Disposition::Effective
        ]
    );
    assert_eq!(s.messages[1].role, Role::HealthInfo);
}

#[test]
fn a_cancelled_admission_expects_nothing() {
    let p = "p6";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(INNLAGT_C, "a2", "2018-01-29T11:00:00", p),
    ];
    let flow = stays(&facts);
    assert_eq!(flow.stays.len(), 1);
    assert_eq!(flow.stays[0].state, StayState::Cancelled);
    assert_eq!(
        flow.stays[0].messages[0].disposition,
        Disposition::Cancelled
    );
    assert!(overdue(&flow, &shipped(), at("2018-03-01")).is_empty());
    assert!(board(&flow, &shipped(), None, at("2018-03-01")).is_empty());
}

#[test]
fn a_death_ends_the_stay_and_the_clock() {
    let p = "p7";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(RAPPORT, "b", "2018-01-29T15:00:00", p),
        fact(KLAR, "c", "2018-01-31T09:00:00", p),
        answer("e", "2018-01-31T10:00:00", p, Some(KLAR_MSG)),
        fact(DOD, "f", "2018-02-20T12:00:00", p),
    ];
    let flow = stays(&facts);
    assert!(flow.unplaced.is_empty());
    let s = &flow.stays[0];
    assert_eq!(s.state, StayState::Died);
    assert_eq!(s.died_at, Some(at("2018-02-20")));
    assert_eq!(s.messages[4].role, Role::Death);
    assert_eq!(s.ready_periods[0].end, Some(PeriodEnd::Died));
    let rows = board(&flow, &shipped(), None, at("2018-03-10"));
    assert_eq!(rows[0].days_waiting, 20, "01.02 up to and including 20.02");
    // No discharge: the discharge rules do not fire.
    assert!(overdue(&flow, &shipped(), at("2018-03-10")).is_empty());
}

#[test]
fn discharge_without_the_reports_is_overdue_per_rule() {
    let p = "p7b";
    let facts = vec![
        fact(INNLAGT, "a", "2018-01-29T10:05:00", p),
        fact(RAPPORT, "b", "2018-01-29T15:00:00", p),
        fact(UTSKREVET, "g", "2018-02-01T13:00:00", p),
    ];
    let items = overdue(&stays(&facts), &shipped(), at("2018-02-02T09:00:00"));
    let rules: Vec<&str> = items.iter().map(|o| o.rule.as_str()).collect();
    assert_eq!(rules, ["discharge_report", "discharge_report_to_gp"]);
    // The report arrives the same day but without a copy to the GP.
    let mut facts = facts;
    facts.push(fact(EPIKRISE, "h", "2018-02-01T15:00:00", p));
    let items = overdue(&stays(&facts), &shipped(), at("2018-02-02T09:00:00"));
    let rules: Vec<&str> = items.iter().map(|o| o.rule.as_str()).collect();
    assert_eq!(rules, ["discharge_report_to_gp"]);
}

fn set_events(f: &mut Fact, events: &[(&str, &str)]) {
    f.events = events
        .iter()
        .map(|(code, t)| FactEvent {
            code: (*code).to_owned(),
            at: Some(at(t)),
            date_only: t.len() == 10,
            estimate: Some(false),
        })
        .collect();
}

#[test]
fn liability_across_a_year_boundary_uses_each_days_rate() {
    let p = "p8";
    let mut innlagt = fact(INNLAGT, "a", "2024-12-20T10:05:00", p);
    set_events(&mut innlagt, &[("1", "2024-12-20T10:00:00")]);
    let mut klar = fact(KLAR, "c", "2024-12-30T23:40:00", p);
    set_events(
        &mut klar,
        &[("1", "2024-12-20T10:00:00"), ("3", "2024-12-30T23:30:00")],
    );
    let mut ut = fact(UTSKREVET, "g", "2025-01-03T12:00:00", p);
    set_events(&mut ut, &[("2", "2025-01-03T11:00:00")]);
    let flow = stays(&[innlagt, klar, ut]);
    // A rate for 2025 exists only in this test's config.
    let cfg = FlowConfig::parse("[day_rates]\n2024 = 5745\n2025 = 6000\n").expect("parses");
    let rows = board(&flow, &cfg, Some(KOMMUNE), at("2025-02-01"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].ready_date, "2024-12-30");
    assert_eq!(rows[0].days_waiting, 4, "31.12, 01.01, 02.01, 03.01");
    assert_eq!(rows[0].liability_nok, 5745 + 3 * 6000);
    assert_eq!(rows[0].unpriced_days, 0);
    // The shipped config knows only 2024.
    let rows = board(&flow, &shipped(), Some(KOMMUNE), at("2025-02-01"));
    assert_eq!((rows[0].liability_nok, rows[0].unpriced_days), (5745, 3));
    // While still waiting, today counts.
    let rows = board(&flow, &cfg, None, at("2025-01-01T00:30:00"));
    assert!(rows[0].waiting);
    assert_eq!(
        (rows[0].days_waiting, rows[0].liability_nok),
        (2, 5745 + 6000)
    );
}

#[test]
fn the_board_exports_as_csv() {
    let flow = stays(&happy("p1"));
    let csv = board_csv(&board(&flow, &shipped(), None, at("2018-03-01")));
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines.len(), 3, "header, one row, final CRLF: {csv:?}");
    assert!(lines[0].starts_with("stay_id,patient_key,hospital_her,municipality,state,"));
    assert!(lines[1].contains(",5001,discharged,2018-01-31,"));
    assert!(lines[1].ends_with(",1,0,1"));
}

#[test]
fn messages_that_fit_no_stay_are_unplaced_not_dropped() {
    let mut no_patient = fact(RAPPORT, "x1", "2018-01-29T15:00:00", "p9");
    no_patient.patient_key = None;
    let orphan_report = fact(RAPPORT, "x2", "2018-01-29T15:00:00", "nobody");
    let mut elsewhere = answer("x3", "2018-01-31T11:00:00", "p1", None);
    elsewhere.receiver.org = Some("999999".to_owned());
    let after = answer("x4", "2018-04-01T11:00:00", "p1", None);
    let mut facts = happy("p1");
    facts.extend([no_patient, orphan_report, elsewhere, after]);
    let flow = stays(&facts);
    assert_eq!(flow.unplaced, ["x1", "x2", "x3", "x4"]);
    assert_eq!(flow.stays.len(), 1);
    assert_eq!(flow.stays[0].messages.len(), 6);
}

#[test]
fn a_readmission_is_a_new_stay() {
    let p = "p10";
    let mut facts = happy(p);
    let mut again = fact(INNLAGT, "r1", "2018-03-05T08:05:00", p);
    set_events(&mut again, &[("1", "2018-03-05T08:00:00")]);
    facts.push(again);
    facts.push(fact(RAPPORT, "r2", "2018-03-05T12:00:00", p));
    let flow = stays(&facts);
    assert_eq!(flow.stays.len(), 2);
    assert_eq!(flow.stays[1].state, StayState::Open);
    let ids: Vec<&str> = flow.stays[1]
        .messages
        .iter()
        .map(|m| m.message_id.as_str())
        .collect();
    assert_eq!(ids, ["r1", "r2"]);
}

#[test]
fn no_input_order_changes_the_stays() {
    let mut facts = happy("p1");
    facts.extend(happy("p2"));
    facts.push(fact(INNLAGT, "q1", "2018-01-29T10:05:00", "p3"));
    facts.push(fact(INNLAGT_C, "q2", "2018-01-29T11:00:00", "p3"));
    facts.push(fact(RAPPORT, "q3", "2018-01-29T15:00:00", "p4"));
    facts.push(fact(DOD, "q4", "2018-02-20T12:00:00", "p2"));
    let expected = stays(&facts);
    assert_eq!(expected.stays.len(), 3);
    assert_eq!(expected.unplaced, ["q3"]);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200 {
        // Fisher–Yates with a xorshift generator: reproducible shuffles.
        for i in (1..facts.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let j = (seed % (i as u64 + 1)) as usize;
            facts.swap(i, j);
        }
        assert_eq!(stays(&facts), expected);
    }
}

#[test]
fn the_derived_baseline_is_the_latest_assessment_before_admission() {
    let p = "p11";
    let earlier = fact(RAPPORT, "old", "2018-01-23T09:00:00", p);
    let admitted = at("2018-03-01T10:00:00");
    let levels = derived_baseline(std::slice::from_ref(&earlier), admitted, 365);
    assert!(!levels.is_empty());
    assert!(levels.iter().all(|l| l.derived
        && l.source_message_id == "old"
        && l.date.as_deref() == Some("2018-01-22")
        && l.dated_by == DatedBy::Assessment));
    let v1 = levels.iter().find(|l| l.variable == 1).expect("variable 1");
    assert_eq!(v1.score, Some(3));

    // Outside the look-back: nothing.
    assert!(derived_baseline(std::slice::from_ref(&earlier), admitted, 30).is_empty());
    // Dated after the admission: nothing.
    assert!(derived_baseline(std::slice::from_ref(&earlier), at("2018-01-20"), 365).is_empty());

    // A later assessment wins, variable by variable.
    let mut newer = fact(RAPPORT, "new", "2018-02-10T09:00:00", p);
    newer.assessments.retain(|a| a.variable == 1);
    for a in newer.assessments.iter_mut() {
        a.score = Some(4);
        a.date = Some("2018-02-09".to_owned());
        a.date_ms = Some(at("2018-02-09"));
    }
    let levels = derived_baseline(&[newer, earlier.clone()], admitted, 365);
    let v1 = levels.iter().find(|l| l.variable == 1).expect("variable 1");
    assert_eq!((v1.score, v1.source_message_id.as_str()), (Some(4), "new"));
    let v2 = levels.iter().find(|l| l.variable == 2).expect("variable 2");
    assert_eq!(v2.source_message_id, "old");

    // A cancelled report provides no baseline.
    let cancel = fact(RAPPORT_C, "cancel", "2018-01-24T09:00:00", p);
    assert!(derived_baseline(&[earlier, cancel], admitted, 365).is_empty());
}

#[test]
fn a_patient_without_municipal_services_gets_a_stay_from_the_ready_notice() {
    // No LOG_INNLAGT: the hospital sends it only to patients who already
    // have services. The ready notice's admission event starts the stay,
    // and the health information sent before it joins by time.
    let p = "p12";
    let h = "Helseopplysninger_Varsel_om_innlagt_pasient_v1-6_Ny.xml";
    let facts = vec![
        fact(h, "h", "2018-01-29T16:00:00", p),
        fact(KLAR, "c", "2018-01-31T09:00:00", p),
    ];
    let flow = stays(&facts);
    assert!(flow.unplaced.is_empty());
    let s = &flow.stays[0];
    assert_eq!(s.admitted_at, at("2018-01-29T10:00:00"));
    assert_eq!(s.messages[0].placement, Placement::Time);
    assert_eq!(s.messages[1].placement, Placement::Admission);
    // The admission report is expected only after a LOG_INNLAGT.
    let rules: Vec<String> = overdue(&flow, &shipped(), at("2018-02-02"))
        .into_iter()
        .map(|o| o.rule)
        .collect();
    assert_eq!(rules, ["ready_answer"]);
}

/// The same journey for another patient, moved `days` later.
fn relabel(template: &[Fact], patient: &str, days: i64) -> Vec<Fact> {
    let shift = days * 24 * HOUR;
    template
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.message_id = format!("{patient}/{}", f.message_id);
            f.patient_key = Some(patient.to_owned());
            f.received_at += shift;
            for s in [
                &mut f.msg_id,
                &mut f.ref_to_parent,
                &mut f.ref_to_conversation,
            ] {
                if let Some(v) = s.as_mut() {
                    *v = format!("{patient}/{v}");
                }
            }
            for e in f.events.iter_mut() {
                e.at = e.at.map(|t| t + shift);
            }
            f
        })
        .collect()
}

#[test]
fn a_rebuild_of_many_journeys_scales_with_the_number_of_messages() {
    let template = happy("t");
    let mut facts = Vec::new();
    for n in 0..5_000 {
        facts.extend(relabel(&template, &format!("patient-{n}"), n % 300));
    }
    let started = std::time::Instant::now();
    let flow = stays(&facts);
    let elapsed = started.elapsed();
    assert_eq!(flow.stays.len(), 5_000);
    assert!(flow.unplaced.is_empty());
    assert!(flow
        .stays
        .iter()
        .all(|s| s.state == StayState::Discharged && s.messages.len() == 6));
    assert!(overdue(&flow, &shipped(), at("2019-06-01")).is_empty());
    // Generous even for an unoptimised build on a busy machine; a quadratic
    // pass over 30 000 messages would take minutes.
    assert!(elapsed.as_secs() < 20, "30 000 messages took {elapsed:?}");
}
