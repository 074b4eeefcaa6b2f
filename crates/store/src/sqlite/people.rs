//! The people's pages in SQLite: the parties and name words each message is
//! indexed under, the worklist query, and the append-only access log.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};

use super::{decode_cursor, encode_cursor, summary_from_row, SUMMARY_COLUMNS};
use crate::{AccessEntry, AccessQuery, NewAccess, NewMessage, Page, StoreError, WorkQuery};

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

pub(super) fn worklist(conn: &Connection, q: &WorkQuery) -> Result<Page, StoreError> {
    let limit = match q.limit {
        0 => DEFAULT_WORK_LIMIT,
        n => n.min(MAX_WORK_LIMIT),
    };
    // Fixed SQL text with `?` placeholders; every value is a bound parameter.
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM messages m WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(units) = &q.units {
        if units.is_empty() {
            return Ok(Page::default());
        }
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
    for t in &q.name_terms {
        sql.push_str(" AND m.id IN (SELECT message_id FROM name_terms WHERE term = ?)");
        args.push(Value::Text(t.clone()));
    }
    if q.with_findings {
        sql.push_str(" AND m.errors + m.warnings > 0");
    }
    if let Some(since) = q.since {
        sql.push_str(" AND m.received_at >= ?");
        args.push(Value::Integer(since));
    }
    if let Some(until) = q.until {
        sql.push_str(" AND m.received_at < ?");
        args.push(Value::Integer(until));
    }
    if let Some(cursor) = &q.cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(" AND (m.received_at, m.id) < (?, ?)");
        args.push(Value::Integer(at));
        args.push(Value::Text(id));
    }
    sql.push_str(" ORDER BY m.received_at DESC, m.id DESC LIMIT ?");
    args.push(Value::Integer(i64::from(limit) + 1));
    let mut items = conn
        .prepare_cached(&sql)?
        .query_and_then(params_from_iter(args), summary_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = match items.last() {
        Some(last) if more => Some(encode_cursor(last.received_at, &last.id)),
        _ => None,
    };
    Ok(Page { items, next })
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
