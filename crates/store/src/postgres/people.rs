//! The people's pages in PostgreSQL: the parties and name words each
//! message is indexed under, the worklist, the append-only access log and
//! the patient-flow facts.

use super::messages::{Window, SUMMARY_COLUMNS};
use super::{exec, row, rows, Args, Tx, R};
use crate::{
    AccessEntry, AccessQuery, FlowFactRow, Millis, NewAccess, NewMessage, Page, WorkQuery,
};

const DEFAULT_WORK_LIMIT: u32 = 50;
const MAX_WORK_LIMIT: u32 = 1000;
const DEFAULT_ACCESS_LIMIT: u32 = 100;
const MAX_ACCESS_LIMIT: u32 = 10_000;
/// The most facts of one patient a flow query returns (the newest).
const PATIENT_FACTS_MAX: i64 = 200;

/// Writes a new message's parties (its HER-ids and its routed receivers)
/// and name words; runs inside the submit's transaction.
pub(super) async fn index_message(tx: &Tx<'_>, m: &NewMessage) -> R<()> {
    let mut hers: Vec<String> = m
        .meta
        .parties
        .iter()
        .chain(m.meta.sender_her.iter())
        .chain(m.meta.receiver_her.iter())
        .map(|h| h.trim().to_string())
        .chain(
            m.deliveries
                .iter()
                .map(|d| d.receiver_her.trim().to_string()),
        )
        .filter(|h| !h.is_empty())
        .collect();
    hers.sort_unstable();
    hers.dedup();
    if !hers.is_empty() {
        exec(
            tx,
            "INSERT INTO message_parties (her, received_at, message_id)
             SELECT h, $2::bigint, $3::text FROM unnest($1::text[]) AS h
             ON CONFLICT DO NOTHING",
            &[&hers, &m.received_at, &m.id],
        )
        .await?;
    }
    if !m.meta.name_terms.is_empty() {
        exec(
            tx,
            "INSERT INTO name_terms (term, message_id)
             SELECT t, $2::text FROM unnest($1::text[]) AS t
             ON CONFLICT DO NOTHING",
            &[&m.meta.name_terms, &m.id],
        )
        .await?;
    }
    Ok(())
}

/// A worklist page. PostgreSQL's planner chooses where to start (the
/// units', the name words' or the time index), so one statement serves
/// every filter.
pub(super) async fn worklist(tx: &Tx<'_>, q: &WorkQuery) -> R<Page> {
    if q.units.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Page::default());
    }
    let limit = match q.limit {
        0 => DEFAULT_WORK_LIMIT,
        n => n.min(MAX_WORK_LIMIT),
    };
    let mut args = Args::default();
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM messages m WHERE true");
    if let Some(units) = &q.units {
        let p = args.push(units.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM message_parties p
                 WHERE p.message_id = m.id AND p.her = ANY({p}))"
        ));
    }
    for (column, v) in [
        ("msg_type", q.msg_type.clone()),
        ("state", q.state.map(|s| s.as_str().to_owned())),
        ("patient_key", q.patient_key.clone()),
        ("id", q.id.clone()),
        ("msg_id", q.msg_id.clone()),
        ("sender_her", q.sender_her.clone()),
        ("receiver_her", q.receiver_her.clone()),
    ] {
        if let Some(v) = v {
            let p = args.push(v);
            sql.push_str(&format!(" AND m.{column} = {p}"));
        }
    }
    for t in &q.name_terms {
        let p = args.push(t.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM name_terms t WHERE t.term = {p} AND t.message_id = m.id)"
        ));
    }
    if q.with_findings {
        sql.push_str(" AND m.errors + m.warnings > 0");
    }
    let window = Window {
        since: q.since,
        until: q.until,
        cursor: q.cursor.as_deref(),
        newest_first: true,
        limit,
    };
    window.page(tx, sql, args).await
}

pub(super) async fn log_access(tx: &Tx<'_>, a: &NewAccess) -> R<i64> {
    let r = row(
        tx,
        "INSERT INTO access_log (at, user_name, action, message_id, patient_key, query,
             name_terms, unit, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING seq",
        &[
            &a.at,
            &a.user,
            &a.action,
            &a.message_id,
            &a.patient_key,
            &a.query,
            &a.name_terms,
            &a.unit,
            &a.outcome,
        ],
    )
    .await?
    .ok_or_else(|| crate::StoreError::Database("an insert returned nothing".into()))?;
    Ok(r.try_get(0)?)
}

pub(super) async fn access_log(tx: &Tx<'_>, q: &AccessQuery) -> R<Vec<AccessEntry>> {
    let limit = match q.limit {
        0 => DEFAULT_ACCESS_LIMIT,
        n => n.min(MAX_ACCESS_LIMIT),
    };
    let mut sql = String::from(
        "SELECT seq, at, user_name, action, message_id, patient_key, query, name_terms, unit,
             outcome
         FROM access_log a WHERE true",
    );
    let mut args = Args::default();
    if let Some(u) = &q.user {
        let p = args.push(u.clone());
        sql.push_str(&format!(" AND a.user_name = {p}"));
    }
    if let Some(k) = &q.patient_key {
        let p = args.push(k.clone());
        sql.push_str(&format!(" AND a.patient_key = {p}"));
    }
    if let Some(since) = q.since {
        let p = args.push(since);
        sql.push_str(&format!(" AND a.at >= {p}"));
    }
    if let Some(until) = q.until {
        let p = args.push(until);
        sql.push_str(&format!(" AND a.at < {p}"));
    }
    if let Some(before) = q.before {
        let p = args.push(before);
        sql.push_str(&format!(" AND a.seq < {p}"));
    }
    let p = args.push(i64::from(limit));
    sql.push_str(&format!(" ORDER BY a.seq DESC LIMIT {p}"));
    let mut out = Vec::new();
    for r in rows(tx, &sql, &args.refs()).await? {
        out.push(AccessEntry {
            seq: r.try_get(0)?,
            access: NewAccess {
                at: r.try_get(1)?,
                user: r.try_get(2)?,
                action: r.try_get(3)?,
                message_id: r.try_get(4)?,
                patient_key: r.try_get(5)?,
                query: r.try_get(6)?,
                name_terms: r.try_get(7)?,
                unit: r.try_get(8)?,
                outcome: r.try_get(9)?,
            },
        });
    }
    Ok(out)
}

/// The columns of a [`FlowFactRow`], from `flow_facts f`.
const FACT_COLUMNS: &str = "f.message_id, f.patient_key, f.received_at, f.fact,
    (SELECT min(r.received_at) FROM receipts r
     WHERE r.message_id = f.message_id AND r.status IN (1, 3))";

fn fact_row(r: &tokio_postgres::Row) -> R<FlowFactRow> {
    Ok(FlowFactRow {
        message_id: r.try_get(0)?,
        patient_key: r.try_get(1)?,
        received_at: r.try_get(2)?,
        fact: r.try_get(3)?,
        positive_apprec_at: r.try_get(4)?,
    })
}

pub(super) async fn flow_facts_page(
    tx: &Tx<'_>,
    since: Millis,
    after: Option<&str>,
    patients: u32,
) -> R<Vec<FlowFactRow>> {
    let after = after.unwrap_or("");
    let patients = i64::from(patients);
    rows(
        tx,
        &format!(
            "SELECT {FACT_COLUMNS} FROM flow_facts f
             WHERE f.patient_key IN (
                 SELECT DISTINCT patient_key FROM flow_facts
                 WHERE patient_key IS NOT NULL AND patient_key > $1 AND received_at >= $2
                 ORDER BY patient_key LIMIT $3)
               AND f.received_at >= $2
             ORDER BY f.patient_key, f.received_at, f.message_id"
        ),
        &[&after, &since, &patients],
    )
    .await?
    .iter()
    .map(fact_row)
    .collect()
}

pub(super) async fn flow_facts(
    tx: &Tx<'_>,
    since: Millis,
    patient_key: Option<&str>,
) -> R<Vec<FlowFactRow>> {
    match patient_key {
        Some(p) => {
            let mut out = rows(
                tx,
                &format!(
                    "SELECT {FACT_COLUMNS} FROM flow_facts f
                     WHERE f.patient_key = $1 AND f.received_at >= $2
                     ORDER BY f.received_at DESC, f.message_id DESC LIMIT $3"
                ),
                &[&p, &since, &PATIENT_FACTS_MAX],
            )
            .await?
            .iter()
            .map(fact_row)
            .collect::<R<Vec<_>>>()?;
            out.reverse();
            Ok(out)
        }
        None => rows(
            tx,
            &format!(
                "SELECT {FACT_COLUMNS} FROM flow_facts f
                 WHERE f.received_at >= $1 ORDER BY f.received_at, f.message_id"
            ),
            &[&since],
        )
        .await?
        .iter()
        .map(fact_row)
        .collect(),
    }
}

pub(super) async fn patient_flow_facts(
    tx: &Tx<'_>,
    patient_key: &str,
    limit: u32,
) -> R<Vec<FlowFactRow>> {
    let limit = i64::from(limit);
    let mut out = Vec::new();
    for r in rows(
        tx,
        "SELECT message_id, patient_key, received_at, fact FROM flow_facts
         WHERE patient_key = $1 ORDER BY received_at DESC, message_id DESC LIMIT $2",
        &[&patient_key, &limit],
    )
    .await?
    {
        out.push(FlowFactRow {
            message_id: r.try_get(0)?,
            patient_key: r.try_get(1)?,
            received_at: r.try_get(2)?,
            fact: r.try_get(3)?,
            positive_apprec_at: None,
        });
    }
    out.reverse();
    Ok(out)
}

pub(super) async fn set_flow_facts(tx: &Tx<'_>, facts: &[FlowFactRow]) -> R<()> {
    // A message deleted by retention gets no fact back.
    for f in facts {
        exec(
            tx,
            "INSERT INTO flow_facts (message_id, patient_key, received_at, fact)
             SELECT $1::text, $2::text, $3::bigint, $4::text FROM messages WHERE id = $1 AND state <> 'deleted'
             ON CONFLICT (message_id) DO UPDATE SET
                 patient_key = excluded.patient_key,
                 received_at = excluded.received_at,
                 fact = excluded.fact",
            &[&f.message_id, &f.patient_key, &f.received_at, &f.fact],
        )
        .await?;
    }
    Ok(())
}
