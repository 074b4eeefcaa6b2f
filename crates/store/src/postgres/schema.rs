//! The PostgreSQL schema, one entry per version: `MIGRATIONS[n]` takes a
//! database from version n to n + 1 (recorded in `overgang_schema`).
//! Append new versions; never edit old ones.
//!
//! Written for PostgreSQL rather than copied from SQLite: times are BIGINT
//! milliseconds, bodies BYTEA (TOAST compresses them), ids identity
//! columns, flags BOOLEAN. Text that is sorted or compared for pages and
//! cursors (ids, HER-ids, patient keys, states) is `COLLATE "C"`: byte
//! order, as SQLite sorts, whatever the database's default collation.

/// Version 1 is the whole schema of SQLite's version 8, plus the lease
/// columns of deliveries. Version 2 tunes autovacuum for the queue table.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE FUNCTION overgang_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE TABLE messages (
    id              TEXT COLLATE "C" PRIMARY KEY,
    received_at     BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    system          TEXT    NOT NULL,
    idempotency_key TEXT    UNIQUE,
    sha256          BYTEA   NOT NULL CHECK (octet_length(sha256) = 32),
    size            BIGINT  NOT NULL,
    msg_id          TEXT,
    msg_type        TEXT,
    standard        TEXT,
    sender_her      TEXT,
    receiver_her    TEXT,
    patient_key     TEXT COLLATE "C",
    verdict         TEXT    NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    apprec_status   INTEGER NOT NULL,
    findings_json   TEXT    NOT NULL,
    errors          INTEGER NOT NULL DEFAULT 0,
    warnings        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_received ON messages (received_at, id);
CREATE INDEX messages_sender   ON messages (sender_her, received_at, id);
CREATE INDEX messages_receiver ON messages (receiver_her, received_at, id);
CREATE INDEX messages_type     ON messages (msg_type, received_at, id);
CREATE INDEX messages_state    ON messages (state, received_at, id);
CREATE INDEX messages_system   ON messages (system, received_at, id);
CREATE INDEX messages_patient  ON messages (patient_key, received_at, id)
    WHERE patient_key IS NOT NULL;
CREATE INDEX messages_msg_id   ON messages (msg_id);
CREATE INDEX messages_flagged  ON messages (received_at, id) WHERE errors + warnings > 0;
CREATE INDEX messages_expiry   ON messages (state, updated_at);

CREATE TABLE bodies (
    message_id TEXT COLLATE "C" PRIMARY KEY REFERENCES messages (id),
    original   BYTEA NOT NULL,
    apprec     BYTEA NOT NULL
);

CREATE TABLE history (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    from_state TEXT,
    to_state   TEXT   NOT NULL,
    reason     TEXT   NOT NULL
);
CREATE INDEX history_message ON history (message_id, seq);
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON history
    FOR EACH ROW EXECUTE FUNCTION overgang_append_only();
CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history
    FOR EACH STATEMENT EXECUTE FUNCTION overgang_append_only();

CREATE TABLE deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    kind            TEXT    NOT NULL,
    receiver_her    TEXT COLLATE "C" NOT NULL,
    role            TEXT    NOT NULL,
    patient_key     TEXT COLLATE "C",
    state           TEXT COLLATE "C" NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    window_start    BIGINT  NOT NULL,
    next_attempt_at BIGINT,
    delivered_at    BIGINT,
    answered_at     BIGINT,
    last_error      TEXT,
    apprec_overdue  BOOLEAN NOT NULL DEFAULT false,
    receipt_id      BIGINT,
    -- Waiting behind an earlier delivery to the same receiver about the
    -- same patient.
    held            BOOLEAN NOT NULL DEFAULT false,
    -- Who claimed it (a node id) and until when the claim stands.
    lease_owner     TEXT,
    lease_until     BIGINT
);
CREATE INDEX deliveries_ready    ON deliveries (next_attempt_at, id)
    WHERE state = 'queued' AND NOT held;
CREATE INDEX deliveries_order    ON deliveries (receiver_her, patient_key, id)
    WHERE state IN ('queued', 'in_flight');
CREATE INDEX deliveries_held     ON deliveries (receiver_her, patient_key, id)
    WHERE state = 'queued' AND held;
CREATE INDEX deliveries_leases   ON deliveries (lease_until, id) WHERE state = 'in_flight';
CREATE INDEX deliveries_message  ON deliveries (message_id, id);
CREATE INDEX deliveries_state    ON deliveries (state, id);
CREATE INDEX deliveries_receiver ON deliveries (receiver_her, id);
CREATE INDEX deliveries_waiting  ON deliveries (delivered_at, id)
    WHERE state = 'delivered' AND NOT apprec_overdue;
CREATE INDEX deliveries_answered ON deliveries (answered_at) WHERE answered_at IS NOT NULL;
CREATE INDEX deliveries_destination ON deliveries (state, receiver_her, window_start)
    WHERE state IN ('queued', 'in_flight', 'dead_letter');
CREATE INDEX deliveries_overdue  ON deliveries (receiver_her)
    WHERE state = 'delivered' AND apprec_overdue;
CREATE INDEX deliveries_delivered ON deliveries (delivered_at, receiver_her)
    WHERE delivered_at IS NOT NULL;
CREATE INDEX deliveries_errors   ON deliveries (receiver_her, updated_at)
    WHERE last_error IS NOT NULL AND state IN ('queued', 'dead_letter');

CREATE TABLE delivery_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    from_state  TEXT,
    to_state    TEXT   NOT NULL,
    reason      TEXT   NOT NULL
);
CREATE INDEX delivery_events_delivery ON delivery_events (delivery_id, seq);
CREATE INDEX delivery_events_failed ON delivery_events (at, delivery_id)
    WHERE from_state = 'in_flight' AND to_state IN ('queued', 'dead_letter');
CREATE TRIGGER delivery_events_append_only BEFORE UPDATE OR DELETE ON delivery_events
    FOR EACH ROW EXECUTE FUNCTION overgang_append_only();
CREATE TRIGGER delivery_events_no_truncate BEFORE TRUNCATE ON delivery_events
    FOR EACH STATEMENT EXECUTE FUNCTION overgang_append_only();

CREATE TABLE receipts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    delivery_id   BIGINT  NOT NULL REFERENCES deliveries (id),
    received_at   BIGINT  NOT NULL,
    status        INTEGER NOT NULL,
    apprec_msg_id TEXT,
    from_her      TEXT,
    via           TEXT    NOT NULL,
    -- NULL once retention deleted its message.
    body          BYTEA
);
CREATE INDEX receipts_message  ON receipts (message_id, id);
CREATE INDEX receipts_delivery ON receipts (delivery_id, apprec_msg_id);
ALTER TABLE deliveries ADD FOREIGN KEY (receipt_id) REFERENCES receipts (id);

CREATE TABLE alerts (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    subject TEXT   NOT NULL,
    text_nb TEXT   NOT NULL,
    text_en TEXT   NOT NULL
);

CREATE TABLE message_parties (
    her         TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    message_id  TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    PRIMARY KEY (her, received_at, message_id)
);
CREATE INDEX message_parties_message ON message_parties (message_id);

CREATE TABLE name_terms (
    term       TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    PRIMARY KEY (term, message_id)
);
CREATE INDEX name_terms_message ON name_terms (message_id);

CREATE TABLE access_log (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    user_name   TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    message_id  TEXT,
    patient_key TEXT,
    query       TEXT,
    name_terms  TEXT,
    unit        TEXT,
    outcome     TEXT   NOT NULL
);
CREATE INDEX access_log_user    ON access_log (user_name, seq);
CREATE INDEX access_log_patient ON access_log (patient_key, seq) WHERE patient_key IS NOT NULL;
CREATE INDEX access_log_at      ON access_log (at);

CREATE TABLE flow_facts (
    message_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES messages (id),
    patient_key TEXT COLLATE "C",
    received_at BIGINT NOT NULL,
    fact        TEXT   NOT NULL
);
CREATE INDEX flow_facts_received ON flow_facts (received_at);
CREATE INDEX flow_facts_patient  ON flow_facts (patient_key, received_at)
    WHERE patient_key IS NOT NULL;

CREATE TABLE retention_holds (
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    reason     TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (message_id, reason)
);

-- The access log's cut-off: the one row only the retention job moves, and
-- only forward. The access log's delete trigger lets entries older than it go.
CREATE TABLE retention_cutoffs (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    access_log_before BIGINT NOT NULL
);
INSERT INTO retention_cutoffs (id, access_log_before) VALUES (1, 0);

CREATE FUNCTION overgang_cutoff_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the retention cut-offs are kept';
    END IF;
    IF NEW.access_log_before < OLD.access_log_before OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'the access log cut-off only moves forward';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER retention_cutoffs_forward BEFORE UPDATE OR DELETE ON retention_cutoffs
    FOR EACH ROW EXECUTE FUNCTION overgang_cutoff_forward();
CREATE TRIGGER retention_cutoffs_no_truncate BEFORE TRUNCATE ON retention_cutoffs
    FOR EACH STATEMENT EXECUTE FUNCTION overgang_append_only();

CREATE FUNCTION overgang_access_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.at >= coalesce(
        (SELECT access_log_before FROM retention_cutoffs WHERE id = 1),
        -9223372036854775808) THEN
        RAISE EXCEPTION 'the access log is append-only';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER access_log_append_only_u BEFORE UPDATE ON access_log
    FOR EACH ROW EXECUTE FUNCTION overgang_append_only();
CREATE TRIGGER access_log_append_only_d BEFORE DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION overgang_access_log_delete();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION overgang_append_only();
"#,
    // Version 2: the queue table is updated several times per delivery (queued
    // → in flight → answered), so it gathers dead row versions much faster
    // than the tables that only grow. Vacuum and analyse it after 2 % of its
    // rows (plus 500) changed, not PostgreSQL's default 20 %, so the partial
    // indexes of pending rows stay small and the planner's picture of the
    // queue stays current. No data changes; `docs/DELIVERY.md` ("Several
    // nodes").
    r#"
ALTER TABLE deliveries SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 500,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 500
);
"#,
];
