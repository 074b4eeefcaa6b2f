//! The people's pages in SQLite: the parties and name words each message is
//! indexed under, the worklist query, and the append-only access log.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};

use super::{Window, SUMMARY_COLUMNS};
use crate::{
    AccessEntry, AccessQuery, FlowFactRow, Millis, NewAccess, NewMessage, Page, StoreError,
    WorkQuery,
};

const DEFAULT_WORK_LIMIT: u32 = 50;
const MAX_WORK_LIMIT: u32 = 1000;
const DEFAULT_ACCESS_LIMIT: u32 = 100;
const MAX_ACCESS_LIMIT: u32 = 10_000;

/// Writes a new message's parties (its HER-ids and its routed receivers)
/// and name words; runs inside the submit's transaction.
pub(super) fn index_message(conn: &Connection, m: &NewMessage) -> Result<(), StoreError> {
    let mut party = conn.prepare_cached(
        "INSERT OR IGNORE INTO message_parties (her, received_at, message_id) VALUES (?1, ?2, ?3)",
    )?;
    let hers = m
        .meta
        .parties
        .iter()
        .chain(m.meta.sender_her.iter())
        .chain(m.meta.receiver_her.iter())
        .map(String::as_str)
        .chain(m.deliveries.iter().map(|d| d.receiver_her.as_str()));
    for her in hers {
        let her = her.trim();
        if !her.is_empty() {
            party.execute(params![her, m.received_at, m.id])?;
        }
    }
    let mut term =
        conn.prepare_cached("INSERT OR IGNORE INTO name_terms (term, message_id) VALUES (?1, ?2)")?;
    for t in &m.meta.name_terms {
        term.execute(params![t, m.id])?;
    }
    Ok(())
}

pub(super) fn parties_of(conn: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    let rows = conn
        .prepare_cached("SELECT her FROM message_parties WHERE message_id = ?1 ORDER BY her")?
        .query_map([id], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Where a worklist query starts. Scanning messages newest first and
/// checking each is right when many match (the page fills at once); when
/// few match (a rare name, a small unit) the scan would read the whole
/// store, so the query starts from those few instead and sorts them.
#[derive(Debug, PartialEq, Eq)]
enum Driver {
    Scan,
    Units,
    Name(usize),
}

/// Below this many candidates a query starts from them.
const FEW: i64 = 2_000;

fn few(conn: &Connection, sql: &str, args: Vec<Value>) -> Result<bool, StoreError> {
    let n: i64 = conn
        .prepare_cached(sql)?
        .query_row(params_from_iter(args), |r| r.get(0))?;
    Ok(n < FEW)
}

fn driver(conn: &Connection, q: &WorkQuery) -> Result<Driver, StoreError> {
    // A patient's messages are an index range of their own.
    if q.patient_key.is_some() || q.id.is_some() {
        return Ok(Driver::Scan);
    }
    // The rarest name word first.
    let mut rarest: Option<(usize, i64)> = None;
    for (i, t) in q.name_terms.iter().enumerate() {
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM name_terms WHERE term = ?1 LIMIT ?2)",
            )?
            .query_row(params![t, FEW], |r| r.get(0))?;
        if rarest.is_none_or(|(_, m)| n < m) {
            rarest = Some((i, n));
        }
    }
    if let Some((i, n)) = rarest {
        if n < FEW {
            return Ok(Driver::Name(i));
        }
    }
    if let Some(units) = &q.units {
        let marks = vec!["?"; units.len()].join(", ");
        let mut args: Vec<Value> = units.iter().map(|u| Value::Text(u.clone())).collect();
        args.push(Value::Integer(FEW));
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM message_parties WHERE her IN ({marks}) LIMIT ?)"
        );
        if few(conn, &sql, args)? {
            return Ok(Driver::Units);
        }
    }
    Ok(Driver::Scan)
}

pub(super) fn worklist(conn: &Connection, q: &WorkQuery) -> Result<Page, StoreError> {
    if q.units.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Page::default());
    }
    let driver = driver(conn, q)?;
    worklist_by(conn, q, &driver)
}

fn worklist_by(conn: &Connection, q: &WorkQuery, driver: &Driver) -> Result<Page, StoreError> {
    let limit = match q.limit {
        0 => DEFAULT_WORK_LIMIT,
        n => n.min(MAX_WORK_LIMIT),
    };
    // Fixed SQL text with `?` placeholders; every value is a bound parameter.
    let mut args: Vec<Value> = Vec::new();
    let mut sql = match driver {
        Driver::Scan => format!("SELECT {SUMMARY_COLUMNS} FROM messages m WHERE 1 = 1"),
        Driver::Units => {
            let units = q.units.as_deref().unwrap_or_default();
            let marks = vec!["?"; units.len()].join(", ");
            args.extend(units.iter().map(|u| Value::Text(u.clone())));
            // CROSS JOIN keeps SQLite from reordering: the few candidates
            // are the outer loop.
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM
                     (SELECT DISTINCT message_id AS mid FROM message_parties WHERE her IN ({marks})) c
                     CROSS JOIN messages m ON m.id = c.mid
                 WHERE 1 = 1"
            )
        }
        Driver::Name(i) => {
            args.push(Value::Text(q.name_terms[*i].clone()));
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM
                     (SELECT message_id AS mid FROM name_terms WHERE term = ?) c
                     CROSS JOIN messages m ON m.id = c.mid
                 WHERE 1 = 1"
            )
        }
    };
    if let (Some(units), false) = (&q.units, *driver == Driver::Units) {
        let marks = vec!["?"; units.len()].join(", ");
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM message_parties p
                 WHERE p.message_id = m.id AND p.her IN ({marks}))"
        ));
        args.extend(units.iter().map(|u| Value::Text(u.clone())));
    }
    let mut eq = |sql: &mut String, column: &str, v: Option<String>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND m.{column} = ?"));
            args.push(Value::Text(v));
        }
    };
    eq(&mut sql, "msg_type", q.msg_type.clone());
    eq(&mut sql, "state", q.state.map(|s| s.as_str().to_owned()));
    eq(&mut sql, "patient_key", q.patient_key.clone());
    eq(&mut sql, "id", q.id.clone());
    eq(&mut sql, "msg_id", q.msg_id.clone());
    eq(&mut sql, "sender_her", q.sender_her.clone());
    eq(&mut sql, "receiver_her", q.receiver_her.clone());
    for (i, t) in q.name_terms.iter().enumerate() {
        if *driver == Driver::Name(i) {
            continue;
        }
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM name_terms t WHERE t.term = ? AND t.message_id = m.id)",
        );
        args.push(Value::Text(t.clone()));
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
    window.page(conn, sql, args, "m.")
}

pub(super) fn log_access(conn: &Connection, a: &NewAccess) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO access_log (at, user, action, message_id, patient_key, query, name_terms,
             unit, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        a.at,
        a.user,
        a.action,
        a.message_id,
        a.patient_key,
        a.query,
        a.name_terms,
        a.unit,
        a.outcome
    ])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn access_log(
    conn: &Connection,
    q: &AccessQuery,
) -> Result<Vec<AccessEntry>, StoreError> {
    let limit = match q.limit {
        0 => DEFAULT_ACCESS_LIMIT,
        n => n.min(MAX_ACCESS_LIMIT),
    };
    let mut sql = String::from(
        "SELECT seq, at, user, action, message_id, patient_key, query, name_terms, unit, outcome
         FROM access_log a WHERE 1 = 1",
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(u) = &q.user {
        sql.push_str(" AND a.user = ?");
        args.push(Value::Text(u.clone()));
    }
    if let Some(p) = &q.patient_key {
        // Views of the patient's messages are recorded with the message's
        // patient key, searches with the key of the national id searched.
        sql.push_str(" AND a.patient_key = ?");
        args.push(Value::Text(p.clone()));
    }
    if let Some(since) = q.since {
        sql.push_str(" AND a.at >= ?");
        args.push(Value::Integer(since));
    }
    if let Some(until) = q.until {
        sql.push_str(" AND a.at < ?");
        args.push(Value::Integer(until));
    }
    if let Some(before) = q.before {
        sql.push_str(" AND a.seq < ?");
        args.push(Value::Integer(before));
    }
    sql.push_str(" ORDER BY a.seq DESC LIMIT ?");
    args.push(Value::Integer(i64::from(limit)));
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), |row| {
            Ok(AccessEntry {
                seq: row.get(0)?,
                access: NewAccess {
                    at: row.get(1)?,
                    user: row.get(2)?,
                    action: row.get(3)?,
                    message_id: row.get(4)?,
                    patient_key: row.get(5)?,
                    query: row.get(6)?,
                    name_terms: row.get(7)?,
                    unit: row.get(8)?,
                    outcome: row.get(9)?,
                },
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The most facts of one patient a flow query returns (the newest).
pub const PATIENT_FACTS_MAX: i64 = 200;

/// The columns of a [`FlowFactRow`], from `flow_facts f`.
const FACT_COLUMNS: &str = "f.message_id, f.patient_key, f.received_at, f.fact,
    (SELECT min(r.received_at) FROM receipts r
     WHERE r.message_id = f.message_id AND r.status IN (1, 3))";

fn fact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FlowFactRow> {
    Ok(FlowFactRow {
        message_id: r.get(0)?,
        patient_key: r.get(1)?,
        received_at: r.get(2)?,
        fact: r.get(3)?,
        positive_apprec_at: r.get(4)?,
    })
}

/// [`crate::Store::flow_facts_page`]: the patients through the partial
/// index on (patient_key, received_at), then their facts in the window.
pub(super) fn flow_facts_page(
    conn: &Connection,
    since: Millis,
    after: Option<&str>,
    patients: u32,
) -> Result<Vec<FlowFactRow>, StoreError> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {FACT_COLUMNS} FROM flow_facts f
             WHERE f.patient_key IN (
                 SELECT DISTINCT patient_key FROM flow_facts
                 WHERE patient_key IS NOT NULL AND patient_key > ?1 AND received_at >= ?2
                 ORDER BY patient_key LIMIT ?3)
               AND f.received_at >= ?2
             ORDER BY f.patient_key, f.received_at, f.message_id"
        ))?
        .query_map(params![after.unwrap_or(""), since, patients], fact_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn flow_facts(
    conn: &Connection,
    since: Millis,
    patient_key: Option<&str>,
) -> Result<Vec<FlowFactRow>, StoreError> {
    const COLUMNS: &str = FACT_COLUMNS;
    let row = fact_row;
    let rows = match patient_key {
        Some(p) => {
            // A patient's newest facts only: what one patient's flow reads
            // stays bounded however long their history grows.
            let mut rows = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM flow_facts f
                     WHERE f.patient_key = ?1 AND f.received_at >= ?2
                     ORDER BY f.received_at DESC, f.message_id DESC LIMIT ?3"
                ))?
                .query_map(params![p, since, PATIENT_FACTS_MAX], row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.reverse();
            rows
        }
        None => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM flow_facts f
                 WHERE f.received_at >= ?1 ORDER BY f.received_at, f.message_id"
            ))?
            .query_map(params![since], row)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

pub(super) fn patient_flow_facts(
    conn: &Connection,
    patient_key: &str,
    limit: u32,
) -> Result<Vec<FlowFactRow>, StoreError> {
    let mut rows = conn
        .prepare_cached(
            "SELECT message_id, patient_key, received_at, fact FROM flow_facts
             WHERE patient_key = ?1 ORDER BY received_at DESC, message_id DESC LIMIT ?2",
        )?
        .query_map(params![patient_key, limit], |r| {
            Ok(FlowFactRow {
                message_id: r.get(0)?,
                patient_key: r.get(1)?,
                received_at: r.get(2)?,
                fact: r.get(3)?,
                positive_apprec_at: None,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.reverse();
    Ok(rows)
}

pub(super) fn set_flow_facts(conn: &Connection, rows: &[FlowFactRow]) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached(
        "INSERT OR REPLACE INTO flow_facts (message_id, patient_key, received_at, fact)
         SELECT ?1, ?2, ?3, ?4 FROM messages WHERE id = ?1 AND state <> 'deleted'",
    )?;
    // A message deleted by retention gets no fact back (docs/RELIABILITY.md).
    for r in rows {
        st.execute(params![r.message_id, r.patient_key, r.received_at, r.fact])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;

    /// A database with `n` messages: message `i` names units `u{i%7}` and
    /// `u{i%11}`, patient name words `w{i%5}` and `w{i%13}`, a finding on
    /// every third.
    fn filled(n: usize) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("t.db")).expect("open");
        super::super::migrate(&mut conn).expect("migrate");
        let tx = conn.transaction().expect("tx");
        for i in 0..n {
            let id = format!("m{i:05}");
            let at = (i as i64) / 3; // ties on received_at, broken by id
            tx.execute(
                "INSERT INTO messages (id, received_at, updated_at, system, sha256, size, msg_type,
                     verdict, state, apprec_status, findings_json, errors, warnings)
                 VALUES (?1, ?2, ?2, 's', zeroblob(32), 1, ?3, 'accepted', ?4, 1, '[]', 0, ?5)",
                params![
                    id,
                    at,
                    if i % 2 == 0 { "A" } else { "B" },
                    State::Queued.as_str(),
                    i64::from(i % 3 == 0)
                ],
            )
            .expect("message");
            for u in [format!("u{}", i % 7), format!("u{}", i % 11)] {
                tx.execute(
                    "INSERT OR IGNORE INTO message_parties (her, received_at, message_id) VALUES (?1, ?2, ?3)",
                    params![u, at, id],
                )
                .expect("party");
            }
            for w in [format!("w{}", i % 5), format!("w{}", i % 13)] {
                tx.execute(
                    "INSERT OR IGNORE INTO name_terms (term, message_id) VALUES (?1, ?2)",
                    params![w, id],
                )
                .expect("term");
            }
        }
        tx.commit().expect("commit");
        (dir, conn)
    }

    fn all_pages(conn: &Connection, q: &WorkQuery, d: &Driver) -> Vec<String> {
        let mut q = q.clone();
        q.limit = 37;
        let mut out = Vec::new();
        loop {
            let page = worklist_by(conn, &q, d).expect("page");
            out.extend(page.items.into_iter().map(|s| s.id));
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => return out,
            }
        }
    }

    #[test]
    fn every_driver_gives_the_same_pages() {
        let (_dir, conn) = filled(3_000);
        let units = |u: &[&str]| Some(u.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let queries = [
            WorkQuery {
                units: units(&["u3"]),
                ..WorkQuery::default()
            },
            WorkQuery {
                units: units(&["u3", "u5"]),
                with_findings: true,
                ..WorkQuery::default()
            },
            WorkQuery {
                units: units(&["u1"]),
                name_terms: words(&["w2", "w7"]),
                ..WorkQuery::default()
            },
            WorkQuery {
                name_terms: words(&["w4"]),
                msg_type: Some("A".into()),
                since: Some(100),
                until: Some(800),
                ..WorkQuery::default()
            },
        ];
        for q in &queries {
            // The expected ids, from first principles.
            let mut want: Vec<String> = (0..3_000usize)
                .filter(|i| {
                    let parties = [format!("u{}", i % 7), format!("u{}", i % 11)];
                    let terms = [format!("w{}", i % 5), format!("w{}", i % 13)];
                    let at = (*i as i64) / 3;
                    q.units
                        .as_ref()
                        .is_none_or(|us| us.iter().any(|u| parties.contains(u)))
                        && q.name_terms.iter().all(|t| terms.contains(t))
                        && (!q.with_findings || i % 3 == 0)
                        && q.msg_type
                            .as_deref()
                            .is_none_or(|t| t == if i % 2 == 0 { "A" } else { "B" })
                        && q.since.is_none_or(|s| at >= s)
                        && q.until.is_none_or(|u| at < u)
                })
                .map(|i| format!("m{i:05}"))
                .collect();
            want.sort_by(|a, b| b.cmp(a));
            let mut drivers = vec![Driver::Scan];
            if q.units.is_some() {
                drivers.push(Driver::Units);
            }
            drivers.extend((0..q.name_terms.len()).map(Driver::Name));
            for d in &drivers {
                assert_eq!(all_pages(&conn, q, d), want, "{d:?} for {q:?}");
            }
        }
    }

    #[test]
    fn the_rarest_start_is_chosen() {
        let (_dir, conn) = filled(3_000);
        let q = |units: &[&str], words: &[&str]| WorkQuery {
            units: Some(units.iter().map(|s| s.to_string()).collect()),
            name_terms: words.iter().map(|s| s.to_string()).collect(),
            ..WorkQuery::default()
        };
        // u3 names about 650 of 3,000 messages: few.
        assert_eq!(
            driver(&conn, &q(&["u3"], &[])).expect("driver"),
            Driver::Units
        );
        // Every unit: many; w12 (1 in 13, ~230) is rarer than w1 (1 in 5).
        let all: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(driver(&conn, &q(&all, &[])).expect("driver"), Driver::Scan);
        assert_eq!(
            driver(&conn, &q(&all, &["w1", "w12"])).expect("driver"),
            Driver::Name(1)
        );
    }
}
