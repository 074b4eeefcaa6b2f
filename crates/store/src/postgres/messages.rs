//! Messages in PostgreSQL: submit (with idempotency), reads, search and
//! state transitions.

use tokio_postgres::Row;

use super::{exec, row, rows, Args, Fail, Tx, R};
use crate::cursor::{decode_cursor, encode_cursor};
use crate::{
    HistoryEntry, MessageRecord, Metadata, Millis, NewMessage, Page, Query, State, StoreError,
    StoredAnswer, Submitted, Summary, Transition,
};

/// Default and maximum page size of [`crate::Store::search`].
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// A message made ready for storage (counted on the caller's task).
pub(super) struct Encoded {
    msg: NewMessage,
    size: i64,
    errors: i32,
    warnings: i32,
}

/// How many findings of `severity` the findings JSON holds (the intake's
/// compact serde output, as the SQLite backend counts them).
fn count_severity(findings_json: &str, severity: &str) -> i32 {
    let needle = format!("\"severity\":\"{severity}\"");
    i32::try_from(findings_json.matches(needle.as_str()).count()).unwrap_or(i32::MAX)
}

pub(super) fn encode(msg: NewMessage) -> Encoded {
    Encoded {
        errors: count_severity(&msg.findings_json, "error"),
        warnings: count_severity(&msg.findings_json, "warning"),
        size: i64::try_from(msg.original.len()).unwrap_or(i64::MAX),
        msg,
    }
}

pub(super) fn state_from_db(s: &str) -> Result<State, StoreError> {
    State::parse(s).ok_or_else(|| StoreError::Database("an unknown state in the database".into()))
}

fn status_from_db(n: i32) -> Result<u8, StoreError> {
    u8::try_from(n)
        .map_err(|_| StoreError::Database("an apprec_status out of range in the database".into()))
}

pub(super) fn status_u8(n: i32) -> Result<u8, StoreError> {
    status_from_db(n)
}

/// The only statement that writes history: an insert.
pub(super) async fn append_history(
    tx: &Tx<'_>,
    id: &str,
    at: Millis,
    actor: &str,
    from: Option<State>,
    to: State,
    reason: &str,
) -> R<()> {
    exec(
        tx,
        "INSERT INTO history (message_id, at, actor, from_state, to_state, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &at,
            &actor,
            &from.map(State::as_str),
            &to.as_str(),
            &reason,
        ],
    )
    .await?;
    Ok(())
}

/// Stores the message, or answers Duplicate / Conflict. The insert
/// `ON CONFLICT (idempotency_key) DO NOTHING` waits for a concurrent
/// transaction inserting the same key and does nothing once that one
/// committed: of any number of concurrent submissions of one key, on any
/// number of connections or nodes, exactly one is created.
pub(super) async fn submit(tx: &Tx<'_>, e: &Encoded) -> R<Submitted> {
    let m = &e.msg;
    let queued = !m.deliveries.is_empty() && m.state == State::Accepted;
    let state = if queued { State::Queued } else { m.state };
    let status = i32::from(m.apprec_status);
    let sha = m.sha256.as_slice();
    let inserted = row(
        tx,
        "INSERT INTO messages (id, received_at, updated_at, system, idempotency_key, sha256,
             size, msg_id, msg_type, standard, sender_her, receiver_her, patient_key,
             verdict, state, apprec_status, findings_json, errors, warnings)
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
             $17, $18)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
        &[
            &m.id,
            &m.received_at,
            &m.system,
            &m.idempotency_key,
            &sha,
            &e.size,
            &m.meta.msg_id,
            &m.meta.msg_type,
            &m.meta.standard,
            &m.meta.sender_her,
            &m.meta.receiver_her,
            &m.meta.patient_key,
            &m.verdict,
            &state.as_str(),
            &status,
            &m.findings_json,
            &e.errors,
            &e.warnings,
        ],
    )
    .await?;
    if inserted.is_none() {
        // The key is taken (committed by another transaction; this
        // statement sees it).
        let key = m.idempotency_key.as_deref().unwrap_or_default();
        let existing = row(
            tx,
            "SELECT id, sha256 FROM messages WHERE idempotency_key = $1",
            &[&key],
        )
        .await?;
        let Some(existing) = existing else {
            // Deleted by retention between the two statements: the key is
            // free again, and the submit is run again (it stores the message).
            return Err(Fail::Retry);
        };
        let id: String = existing.try_get(0)?;
        let stored: Vec<u8> = existing.try_get(1)?;
        if stored.as_slice() == sha {
            return Ok(Submitted::Duplicate(stored_answer(tx, &id).await?));
        }
        return Ok(Submitted::Conflict { existing_id: id });
    }
    exec(
        tx,
        "INSERT INTO bodies (message_id, original, apprec) VALUES ($1, $2, $3)",
        &[&m.id, &m.original, &m.apprec],
    )
    .await?;
    super::people::index_message(tx, m).await?;
    if let Some(fact) = &m.meta.flow_fact {
        exec(
            tx,
            "INSERT INTO flow_facts (message_id, patient_key, received_at, fact)
             VALUES ($1, $2, $3, $4)",
            &[&m.id, &m.meta.patient_key, &m.received_at, fact],
        )
        .await?;
    }
    append_history(tx, &m.id, m.received_at, &m.actor, None, m.state, &m.reason).await?;
    if queued {
        append_history(
            tx,
            &m.id,
            m.received_at,
            "gateway",
            Some(State::Accepted),
            State::Queued,
            &m.route_reason,
        )
        .await?;
        super::queue::insert_deliveries(
            tx,
            &m.id,
            m.received_at,
            "gateway",
            m.meta.patient_key.as_deref(),
            &m.deliveries,
        )
        .await?;
    }
    Ok(Submitted::Created)
}

async fn stored_answer(tx: &Tx<'_>, id: &str) -> R<StoredAnswer> {
    let r = row(
        tx,
        "SELECT m.verdict, m.findings_json, m.apprec_status, b.apprec,
                (SELECT h.to_state FROM history h WHERE h.message_id = m.id
                 ORDER BY h.seq LIMIT 1)
         FROM messages m JOIN bodies b ON b.message_id = m.id
         WHERE m.id = $1",
        &[&id],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
    let first: Option<String> = r.try_get(4)?;
    let first = first.ok_or_else(|| StoreError::Database("a message without history".into()))?;
    Ok(StoredAnswer {
        id: id.to_string(),
        verdict: r.try_get(0)?,
        findings_json: r.try_get(1)?,
        apprec: r.try_get(3)?,
        apprec_status: status_from_db(r.try_get(2)?)?,
        state_at_intake: state_from_db(&first)?,
    })
}

pub(super) async fn transition(tx: &Tx<'_>, t: &Transition) -> R<()> {
    if t.from == State::Deleted || t.to == State::Deleted {
        return Err(Fail::Store(StoreError::StateConflict {
            id: t.id.clone(),
            expected: t.from.as_str().to_string(),
            actual: "deleted is final and set only by retention".into(),
        }));
    }
    let changed = exec(
        tx,
        "UPDATE messages SET state = $1, updated_at = greatest(updated_at, $2)
         WHERE id = $3 AND state = $4",
        &[&t.to.as_str(), &t.at, &t.id, &t.from.as_str()],
    )
    .await?;
    if changed == 0 {
        let actual = row(tx, "SELECT state FROM messages WHERE id = $1", &[&t.id]).await?;
        return Err(Fail::Store(match actual {
            None => StoreError::NotFound(t.id.clone()),
            Some(r) => StoreError::StateConflict {
                id: t.id.clone(),
                expected: t.from.as_str().to_string(),
                actual: r.try_get(0)?,
            },
        }));
    }
    append_history(tx, &t.id, t.at, &t.actor, Some(t.from), t.to, &t.reason).await
}

/// The columns of a [`Summary`], in the order [`summary_from_row`] reads them.
pub(super) const SUMMARY_COLUMNS: &str = "m.id, m.received_at, m.updated_at, m.system, m.msg_id, \
     m.msg_type, m.standard, m.sender_her, m.receiver_her, m.patient_key, m.size, m.verdict, \
     m.state, m.apprec_status, m.errors, m.warnings";

pub(super) fn summary_from_row(row: &Row) -> R<Summary> {
    let size: i64 = row.try_get(10)?;
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Ok(Summary {
        id: row.try_get(0)?,
        received_at: row.try_get(1)?,
        updated_at: row.try_get(2)?,
        system: row.try_get(3)?,
        meta: Metadata {
            msg_id: row.try_get(4)?,
            msg_type: row.try_get(5)?,
            standard: row.try_get(6)?,
            sender_her: row.try_get(7)?,
            receiver_her: row.try_get(8)?,
            patient_key: row.try_get(9)?,
            ..Metadata::default()
        },
        size: u64::try_from(size)
            .map_err(|_| StoreError::Database("a negative size in the database".into()))?,
        verdict: row.try_get(11)?,
        state: state_from_db(&row.try_get::<_, String>(12)?)?,
        apprec_status: status_from_db(row.try_get(13)?)?,
        errors: count(row.try_get(14)?),
        warnings: count(row.try_get(15)?),
    })
}

pub(super) async fn record(tx: &Tx<'_>, id: &str) -> R<Option<MessageRecord>> {
    let Some(r) = row(
        tx,
        &format!(
            "SELECT {SUMMARY_COLUMNS}, m.sha256, m.findings_json FROM messages m WHERE m.id = $1"
        ),
        &[&id],
    )
    .await?
    else {
        return Ok(None);
    };
    let mut summary = summary_from_row(&r)?;
    let sha: Vec<u8> = r.try_get(16)?;
    let sha256: [u8; 32] = sha
        .try_into()
        .map_err(|_| StoreError::Database("a sha256 of the wrong length in the database".into()))?;
    let findings_json: String = r.try_get(17)?;
    let mut history = Vec::new();
    for h in rows(
        tx,
        "SELECT at, actor, from_state, to_state, reason FROM history
         WHERE message_id = $1 ORDER BY seq",
        &[&id],
    )
    .await?
    {
        let from: Option<String> = h.try_get(2)?;
        history.push(HistoryEntry {
            at: h.try_get(0)?,
            actor: h.try_get(1)?,
            from: from.as_deref().map(state_from_db).transpose()?,
            to: state_from_db(&h.try_get::<_, String>(3)?)?,
            reason: h.try_get(4)?,
        });
    }
    summary.meta.parties = rows(
        tx,
        "SELECT her FROM message_parties WHERE message_id = $1 ORDER BY her",
        &[&id],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    Ok(Some(MessageRecord {
        summary,
        sha256,
        findings_json,
        history,
    }))
}

pub(super) async fn body(tx: &Tx<'_>, id: &str, apprec: bool) -> R<Option<Vec<u8>>> {
    let sql = if apprec {
        "SELECT apprec FROM bodies WHERE message_id = $1"
    } else {
        "SELECT original FROM bodies WHERE message_id = $1"
    };
    Ok(row(tx, sql, &[&id])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
}

pub(super) async fn search(tx: &Tx<'_>, q: &Query) -> R<Page> {
    let limit = match q.limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    };
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM messages m WHERE true");
    let mut args = Args::default();
    for (column, v) in [
        ("sender_her", &q.sender_her),
        ("receiver_her", &q.receiver_her),
        ("msg_type", &q.msg_type),
        ("system", &q.system),
        ("state", &q.state.map(|s| s.as_str().to_string())),
    ] {
        if let Some(v) = v {
            let p = args.push(v.clone());
            sql.push_str(&format!(" AND m.{column} = {p}"));
        }
    }
    let window = Window {
        since: q.since,
        until: q.until,
        cursor: q.cursor.as_deref(),
        newest_first: false,
        limit,
    };
    window.page(tx, sql, args).await
}

/// The time window, cursor, order and size of a page of messages.
pub(super) struct Window<'a> {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub cursor: Option<&'a str>,
    pub newest_first: bool,
    pub limit: u32,
}

impl Window<'_> {
    /// Appends the window to `sql` (a `SELECT {SUMMARY_COLUMNS} … WHERE …`
    /// over `messages m`), runs it and cuts the page.
    pub async fn page(&self, tx: &Tx<'_>, mut sql: String, mut args: Args) -> R<Page> {
        if let Some(since) = self.since {
            let p = args.push(since);
            sql.push_str(&format!(" AND m.received_at >= {p}"));
        }
        if let Some(until) = self.until {
            let p = args.push(until);
            sql.push_str(&format!(" AND m.received_at < {p}"));
        }
        let (cmp, order) = if self.newest_first {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(cursor) = self.cursor {
            let (at, id) = decode_cursor(cursor)?;
            let pa = args.push(at);
            let pi = args.push(id);
            sql.push_str(&format!(" AND (m.received_at, m.id) {cmp} ({pa}, {pi})"));
        }
        let pl = args.push(i64::from(self.limit) + 1);
        sql.push_str(&format!(
            " ORDER BY m.received_at {order}, m.id {order} LIMIT {pl}"
        ));
        let mut items = rows(tx, &sql, &args.refs())
            .await?
            .iter()
            .map(summary_from_row)
            .collect::<R<Vec<_>>>()?;
        let more = items.len() > self.limit as usize;
        items.truncate(self.limit as usize);
        let next = match items.last() {
            Some(last) if more => Some(encode_cursor(last.received_at, &last.id)),
            _ => None,
        };
        Ok(Page { items, next })
    }
}
