//! The people's pages: worklist, access log, flow facts.

use super::{access, claim_and_finish, flagged, ids_of, message, receipt, ONE_ERROR, ONE_WARNING};
use crate::{AccessQuery, AttemptResult, FlowFactRow, NewDelivery, Page, State, Store, WorkQuery};

/// The worklist: scoped to units (a routed receiver is a party), newest
/// first, counts of findings, `with_findings`, every name word must match,
/// pages walking back in time without gaps; the record carries its parties.
pub async fn worklist_scopes_orders_and_filters<S: Store>(store: S) {
    store
        .submit(flagged("a", 1, &["100"], "[]", &["t-ola"]))
        .await
        .unwrap();
    store
        .submit(flagged("b", 2, &["200", "100"], ONE_WARNING, &["t-kari"]))
        .await
        .unwrap();
    store
        .submit(flagged(
            "c",
            3,
            &["300"],
            ONE_ERROR,
            &["t-ola", "t-nordmann"],
        ))
        .await
        .unwrap();
    let mut routed = flagged("d", 4, &["400"], "[]", &[]);
    routed.deliveries.push(NewDelivery {
        receiver_her: "100".into(),
        role: "copy:gp".into(),
        reason: "copy".into(),
    });
    routed.state = State::Accepted;
    store.submit(routed).await.unwrap();

    let ids = |p: Page| p.items.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let unit = |u: &[&str]| WorkQuery {
        units: Some(u.iter().map(|s| s.to_string()).collect()),
        ..WorkQuery::default()
    };
    // Newest first; a routed receiver counts as a party.
    assert_eq!(
        ids(store.worklist(&unit(&["100"])).await.unwrap()),
        ["d", "b", "a"]
    );
    assert_eq!(
        ids(store.worklist(&unit(&["300", "200"])).await.unwrap()),
        ["c", "b"]
    );
    assert!(store.worklist(&unit(&[])).await.unwrap().items.is_empty());
    assert_eq!(
        ids(store.worklist(&WorkQuery::default()).await.unwrap()).len(),
        4
    );

    // Counts of findings per severity.
    let page = store.worklist(&unit(&["200"])).await.unwrap();
    assert_eq!((page.items[0].errors, page.items[0].warnings), (0, 1));
    let page = store.worklist(&unit(&["300"])).await.unwrap();
    assert_eq!((page.items[0].errors, page.items[0].warnings), (1, 0));
    let q = WorkQuery {
        with_findings: true,
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c", "b"]);

    // Every name word must match.
    let q = WorkQuery {
        name_terms: vec!["t-ola".into()],
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c", "a"]);
    let q = WorkQuery {
        name_terms: vec!["t-ola".into(), "t-nordmann".into()],
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c"]);

    // Exact metadata, type, state, time window, patient.
    let q = WorkQuery {
        id: Some("b".into()),
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["b"]);
    let q = WorkQuery {
        msg_id: Some("msg-c".into()),
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c"]);
    let q = WorkQuery {
        state: Some(State::Queued),
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["d"]);
    let q = WorkQuery {
        since: Some(2),
        until: Some(4),
        msg_type: Some("INNLEGGELSESRAPPORT".into()),
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()), ["c", "b"]);
    let q = WorkQuery {
        patient_key: Some("ab12".into()),
        ..WorkQuery::default()
    };
    assert_eq!(ids(store.worklist(&q).await.unwrap()).len(), 4);
    let q = WorkQuery {
        patient_key: Some("someone else".into()),
        ..WorkQuery::default()
    };
    assert!(store.worklist(&q).await.unwrap().items.is_empty());

    // Pages walk back in time without gaps.
    let mut q = WorkQuery {
        limit: 1,
        ..WorkQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.worklist(&q).await.unwrap();
        seen.extend(page.items.iter().map(|s| s.id.clone()));
        match page.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["d", "c", "b", "a"]);

    // The record carries its parties.
    let rec = store.get("d").await.unwrap().unwrap();
    assert_eq!(rec.summary.meta.parties, ["100", "400"]);
}

/// The access log: every entry comes back as recorded, newest first, with
/// growing sequence numbers; filters by user, patient, time window; pages
/// by `before` and `limit`.
pub async fn access_log_is_recorded_and_filtered<S: Store>(store: S) {
    let s1 = store
        .log_access(access(10, "kari", Some("p1")))
        .await
        .unwrap();
    let s2 = store
        .log_access(access(20, "ola", Some("p2")))
        .await
        .unwrap();
    let s3 = store.log_access(access(30, "kari", None)).await.unwrap();
    assert!(s1 < s2 && s2 < s3, "{s1} {s2} {s3}");

    let all = store.access_log(&AccessQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.access.at).collect::<Vec<_>>(),
        [30, 20, 10]
    );
    assert_eq!(all[2].access, access(10, "kari", Some("p1")));
    assert_eq!(all[2].seq, s1);
    let q = AccessQuery {
        user: Some("kari".into()),
        ..AccessQuery::default()
    };
    assert_eq!(store.access_log(&q).await.unwrap().len(), 2);
    let q = AccessQuery {
        patient_key: Some("p2".into()),
        ..AccessQuery::default()
    };
    assert_eq!(store.access_log(&q).await.unwrap()[0].access.user, "ola");
    let q = AccessQuery {
        since: Some(15),
        until: Some(30),
        ..AccessQuery::default()
    };
    assert_eq!(store.access_log(&q).await.unwrap().len(), 1);
    let q = AccessQuery {
        before: Some(s3),
        limit: 1,
        ..AccessQuery::default()
    };
    let page = store.access_log(&q).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].seq, s2);
    // Every field is kept.
    let full = crate::NewAccess {
        at: 40,
        user: "ola".into(),
        action: "search_patient".into(),
        message_id: None,
        patient_key: Some("p9".into()),
        query: Some("name, 2 words".into()),
        name_terms: Some("h1 h2".into()),
        unit: Some("5078".into()),
        outcome: "denied".into(),
    };
    store.log_access(full.clone()).await.unwrap();
    let newest = store.access_log(&AccessQuery::default()).await.unwrap();
    assert_eq!(newest[0].access, full);
}

/// Flow facts are stored with their messages (none without one), read by
/// window and by patient, and a rebuild replaces facts and adds missing
/// ones.
pub async fn flow_facts_are_kept_with_their_messages_and_rebuilt<S: Store>(store: S) {
    let mut a = message("a", 10, Some("k|a"), b"a");
    a.meta.flow_fact = Some(r#"{"fact":"a"}"#.into());
    let mut b = message("b", 20, Some("k|b"), b"b");
    b.meta.flow_fact = Some(r#"{"fact":"b"}"#.into());
    b.meta.patient_key = Some("other".into());
    let c = message("c", 30, Some("k|c"), b"c");
    for m in [a, b, c] {
        store.submit(m).await.unwrap();
    }
    let all = store.flow_facts(0, None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.message_id.as_str(), r.fact.as_str()))
            .collect::<Vec<_>>(),
        [("a", r#"{"fact":"a"}"#), ("b", r#"{"fact":"b"}"#)]
    );
    assert_eq!(all[0].patient_key.as_deref(), Some("ab12"));
    assert_eq!(all[0].received_at, 10);
    assert_eq!(all[0].positive_apprec_at, None);
    assert_eq!(store.flow_facts(15, None).await.unwrap().len(), 1);
    let of = store.flow_facts(0, Some("other".into())).await.unwrap();
    assert_eq!(of.len(), 1);
    assert_eq!(of[0].message_id, "b");
    let newest = store.patient_flow_facts("other".into(), 5).await.unwrap();
    assert_eq!(newest, of);
    assert!(store
        .patient_flow_facts("ab12".into(), 0)
        .await
        .unwrap()
        .is_empty());

    // A rebuild replaces facts and adds missing ones, but only for
    // messages the store has.
    store
        .set_flow_facts(vec![
            FlowFactRow {
                message_id: "a".into(),
                patient_key: Some("ab12".into()),
                received_at: 10,
                fact: r#"{"fact":"a2"}"#.into(),
                positive_apprec_at: None,
            },
            FlowFactRow {
                message_id: "c".into(),
                patient_key: None,
                received_at: 30,
                fact: r#"{"fact":"c"}"#.into(),
                positive_apprec_at: None,
            },
            FlowFactRow {
                message_id: "no such".into(),
                patient_key: None,
                received_at: 40,
                fact: "{}".into(),
                positive_apprec_at: None,
            },
        ])
        .await
        .unwrap();
    let all = store.flow_facts(0, None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.fact.as_str()).collect::<Vec<_>>(),
        [r#"{"fact":"a2"}"#, r#"{"fact":"b"}"#, r#"{"fact":"c"}"#]
    );
}

/// `flow_facts_page`: whole patients, in key order, `patients` at a time,
/// facts in the window only, none without a patient.
pub async fn flow_facts_come_page_by_page_of_whole_patients<S: Store>(store: S) {
    // Patients p0..p4, two facts each (one before the window for p1), and
    // one fact without a patient.
    let mut n = 0;
    for p in 0..5 {
        for t in [100, 200] {
            n += 1;
            let id = format!("m{n}");
            let mut m = message(&id, t + n, Some(&format!("k|{id}")), id.as_bytes());
            m.meta.flow_fact = Some(format!(r#"{{"n":{n}}}"#));
            m.meta.patient_key = Some(format!("p{p}"));
            if p == 1 && t == 100 {
                m.received_at = 1;
            }
            store.submit(m).await.unwrap();
        }
    }
    let mut lone = message("lone", 150, Some("k|lone"), b"lone");
    lone.meta.flow_fact = Some("{}".into());
    lone.meta.patient_key = None;
    store.submit(lone).await.unwrap();

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.flow_facts_page(50, after.clone(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().and_then(|r| r.patient_key.clone());
        pages.push(
            page.iter()
                .map(|r| (r.patient_key.clone().unwrap(), r.message_id.clone()))
                .collect::<Vec<_>>(),
        );
        assert!(pages.len() < 10, "the walk ends");
    }
    fn keys(page: &[(String, String)]) -> Vec<&str> {
        let mut k: Vec<&str> = page.iter().map(|x| x.0.as_str()).collect();
        k.dedup();
        k
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(keys(&pages[0]), ["p0", "p1"]);
    assert_eq!(keys(&pages[1]), ["p2", "p3"]);
    assert_eq!(keys(&pages[2]), ["p4"]);
    // Every fact in the window once (p1's early one is not), in time
    // order within a patient; none without a patient.
    let all: Vec<(String, String)> = pages.concat();
    assert_eq!(all.len(), 9);
    assert_eq!(all[2], ("p1".to_owned(), "m4".to_owned()));
    assert_eq!(all[0], ("p0".to_owned(), "m1".to_owned()));
    assert_eq!(all[1], ("p0".to_owned(), "m2".to_owned()));
    assert!(all.iter().all(|x| x.1 != "lone" && x.1 != "m3"));
}

/// `patient_flow_facts`: one patient's newest `limit` facts, oldest first,
/// without AppRec times.
pub async fn a_patients_newest_facts_are_read_oldest_first_up_to_a_limit<S: Store>(store: S) {
    for i in 0..5i64 {
        let id = format!("m{i}");
        let mut m = message(&id, 100 + i, Some(&format!("k|{id}")), id.as_bytes());
        m.meta.flow_fact = Some(format!("{{\"n\":{i}}}"));
        store.submit(m).await.unwrap();
    }
    let newest = store.patient_flow_facts("ab12".into(), 3).await.unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|r| r.message_id.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );
    assert!(newest.iter().all(|r| r.positive_apprec_at.is_none()));
    assert_eq!(newest[0].fact, "{\"n\":2}");
    assert!(store
        .patient_flow_facts("nobody".into(), 3)
        .await
        .unwrap()
        .is_empty());
}

/// A flow fact carries the time of the first positive AppRec (status 1 or
/// 3) that answered its message; a rejecting one (2) does not count.
pub async fn flow_facts_carry_the_first_positive_apprec<S: Store>(store: S) {
    let mut m = super::routed("m", 10, "p", &["A", "B", "C"]);
    m.meta.flow_fact = Some(r#"{"m":1}"#.into());
    store.submit(m).await.unwrap();
    let mut n = super::routed("n", 20, "q", &["A"]);
    n.meta.flow_fact = Some(r#"{"n":1}"#.into());
    store.submit(n).await.unwrap();
    let ms = ids_of(&store, "m").await;
    let n1 = ids_of(&store, "n").await[0];
    let rejected = AttemptResult::Answered(receipt(2, "m-a"));
    claim_and_finish(&store, ms[0], 30, rejected).await;
    let at = |rows: Vec<FlowFactRow>| {
        rows.into_iter()
            .map(|r| (r.message_id, r.positive_apprec_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        at(store.flow_facts(0, None).await.unwrap()),
        [("m".to_string(), None), ("n".to_string(), None)]
    );
    claim_and_finish(
        &store,
        ms[1],
        40,
        AttemptResult::Answered(receipt(3, "m-b")),
    )
    .await;
    claim_and_finish(
        &store,
        ms[2],
        50,
        AttemptResult::Answered(receipt(1, "m-c")),
    )
    .await;
    claim_and_finish(&store, n1, 60, AttemptResult::Answered(receipt(1, "n-a"))).await;
    assert_eq!(
        at(store.flow_facts(0, None).await.unwrap()),
        [("m".to_string(), Some(40)), ("n".to_string(), Some(60))]
    );
    assert_eq!(
        at(store.flow_facts(0, Some("p".into())).await.unwrap()),
        [("m".to_string(), Some(40))]
    );
    assert_eq!(
        at(store.flow_facts_page(0, None, 10).await.unwrap()),
        [("m".to_string(), Some(40)), ("n".to_string(), Some(60))]
    );
    // The patient's newest facts go without.
    assert_eq!(
        at(store.patient_flow_facts("p".into(), 10).await.unwrap()),
        [("m".to_string(), None)]
    );
}

/// `flow_facts` of one patient gives their newest 200 at most (oldest
/// first); without a patient there is no cap.
pub async fn flow_facts_of_one_patient_are_their_newest_200<S: Store>(store: S) {
    for i in 0..205i64 {
        let id = format!("m{i:03}");
        let mut m = message(&id, 1_000 + i, Some(&format!("k|{id}")), id.as_bytes());
        m.meta.flow_fact = Some(format!("{{\"n\":{i}}}"));
        store.submit(m).await.unwrap();
    }
    let mut other = message("o", 5, Some("k|o"), b"o");
    other.meta.flow_fact = Some("{}".into());
    other.meta.patient_key = Some("other".into());
    store.submit(other).await.unwrap();
    let of = store.flow_facts(0, Some("ab12".into())).await.unwrap();
    assert_eq!(of.len(), 200);
    assert_eq!(of[0].message_id, "m005");
    assert_eq!(of[199].message_id, "m204");
    assert!(of.windows(2).all(|w| w[0].received_at < w[1].received_at));
    let since = store.flow_facts(1_100, Some("ab12".into())).await.unwrap();
    assert_eq!(since.len(), 105);
    assert_eq!(store.flow_facts(0, None).await.unwrap().len(), 206);
}
