"""Schema migrations, run once per deployment (`simasn migrate`, a make target or a k8s Job) —
never by every replica at start.

Each service owns one PostgreSQL schema named after it and a login role that may only INSERT and
SELECT its event log (UPDATE/DELETE/TRUNCATE are refused by triggers even for the owner).
Service-specific migrations live in `services/<name>/migrations/NNN_name.sql`; `{schema}` and
`{role}` in them are replaced before they run.

Two roles read across schemas: `<prefix>auditor` may SELECT every log (`simasn audit`), and the
signing service's role `<prefix>signing` may read every log's head and its events' positions and
chain hashes — no payloads — to sign checkpoints (services/signing/checkpoints.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

from shared import SERVICES
from shared.canonical import GENESIS_HASH

ROOT = Path(__file__).resolve().parent.parent

CORE_LOG_DDL = """
CREATE TABLE {schema}.events (
    position        bigint PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    stream_id       text NOT NULL,
    stream_type     text NOT NULL,
    version         integer NOT NULL CHECK (version > 0),
    event_type      text NOT NULL,
    schema_version  integer NOT NULL,
    payload         jsonb NOT NULL,
    metadata        jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL,
    content_hash    text NOT NULL,
    prev_hash       text NOT NULL,
    hash            text NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE {schema}.event_log_head (
    id               smallint PRIMARY KEY CHECK (id = 1),
    last_position    bigint NOT NULL,
    last_hash        text NOT NULL,
    last_recorded_at timestamptz
);
INSERT INTO {schema}.event_log_head VALUES (1, 0, '{genesis}', NULL);

-- The only way events get in: one call, one round trip, the head row locked for as short a
-- time as possible. See shared/eventstore.py for why positions never show a late commit and
-- shared/canonical.py for the two hash levels. Outcomes come back as jsonb, not exceptions,
-- so a conflict leaves the caller's transaction usable.
CREATE FUNCTION {schema}.append_events(p_stream text, p_stream_type text, p_expected integer,
                                       p_metadata jsonb, p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    head        record;
    n           integer := jsonb_array_length(p_events);
    found       integer;
    same_stream boolean;
    existing    jsonb;
    current_v   integer;
    ts          timestamptz;
    ts_text     text;
    pos         bigint;
    ver         integer;
    prev        text;
    link        text;
    e           jsonb;
BEGIN
    SELECT last_position, last_hash, last_recorded_at INTO head
      FROM {schema}.event_log_head WHERE id = 1 FOR UPDATE;
    -- every statement below runs with a snapshot taken after the lock was granted
    SELECT count(ev.position), bool_and(ev.stream_id = p_stream),
           jsonb_agg(ev.position ORDER BY x.ord)
      INTO found, same_stream, existing
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, ord)
      JOIN {schema}.events ev ON ev.event_id = (x.e->>'event_id')::uuid;
    IF found = n AND same_stream THEN
        RETURN jsonb_build_object('replayed', existing);
    ELSIF found > 0 THEN
        RETURN jsonb_build_object('duplicate', found);
    END IF;
    SELECT coalesce(max(version), 0) INTO current_v FROM {schema}.events
     WHERE stream_id = p_stream;
    IF p_expected IS NOT NULL AND p_expected <> current_v THEN
        RETURN jsonb_build_object('conflict', current_v);
    END IF;
    ts := greatest(clock_timestamp(), coalesce(head.last_recorded_at, '-infinity'));
    ts_text := to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    pos := head.last_position;
    ver := current_v;
    prev := head.last_hash;
    FOR e IN SELECT value FROM jsonb_array_elements(p_events) LOOP
        pos := pos + 1;
        ver := ver + 1;
        link := encode(sha256(convert_to(
            prev || '|' || pos || '|' || ver || '|' || ts_text || '|' || (e->>'content_hash'),
            'UTF8')), 'hex');
        INSERT INTO {schema}.events (position, event_id, stream_id, stream_type, version,
                event_type, schema_version, payload, metadata, recorded_at, content_hash,
                prev_hash, hash)
        VALUES (pos, (e->>'event_id')::uuid, p_stream, p_stream_type, ver, e->>'event_type',
                (e->>'schema_version')::integer, e->'payload', p_metadata, ts,
                e->>'content_hash', prev, link);
        prev := link;
    END LOOP;
    UPDATE {schema}.event_log_head
       SET last_position = pos, last_hash = prev, last_recorded_at = ts WHERE id = 1;
    RETURN jsonb_build_object('first', head.last_position + 1, 'last', pos);
END $$;

CREATE FUNCTION {schema}.refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log %.% is append-only: % refused', TG_TABLE_SCHEMA,
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON {schema}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_event_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {schema}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_event_change();

CREATE TABLE {schema}.relay_checkpoint (
    relay       text PRIMARY KEY,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.relay_unrouted (
    position    bigint PRIMARY KEY,
    event_type  text NOT NULL,
    reason      text NOT NULL,
    noted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.consumed (
    consumer    text NOT NULL,
    source      text NOT NULL,
    position    bigint NOT NULL,
    event_id    uuid NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, position)
);
CREATE TABLE {schema}.dead_letters (
    id              bigserial PRIMARY KEY,
    consumer        text NOT NULL,
    queue           text NOT NULL,
    source          text NOT NULL,
    position        bigint,
    event_id        uuid,
    event_type      text NOT NULL,
    envelope        jsonb NOT NULL,
    headers         jsonb NOT NULL DEFAULT '{{}}',
    error_type      text NOT NULL,
    error           text NOT NULL,
    traceback       text NOT NULL,
    attempts        integer NOT NULL,
    status          text NOT NULL DEFAULT 'parked'
                    CHECK (status IN ('parked', 'retried', 'discarded')),
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     text,
    resolution_note text,
    UNIQUE (consumer, source, position)
);

GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT ON {schema}.events TO {role};
GRANT EXECUTE ON FUNCTION {schema}.append_events(text, text, integer, jsonb, jsonb) TO {role};
GRANT SELECT, UPDATE ON {schema}.event_log_head TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.relay_checkpoint, {schema}.relay_unrouted TO {role};
GRANT SELECT, INSERT ON {schema}.consumed TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.dead_letters TO {role};
GRANT USAGE ON SEQUENCE {schema}.dead_letters_id_seq TO {role};
GRANT USAGE ON SCHEMA {schema} TO {auditor};
GRANT SELECT ON {schema}.events, {schema}.event_log_head TO {auditor};
"""

# The relay's faults (shared/relay.py): events it could not prepare for the bus (an upcaster or
# redactor raised) are held with their error until an operator's retry publishes them; events
# the broker returned (no queue bound) are offered again and their rows deleted once delivered;
# an operator asks for a retry through relay_checkpoint.retry_requested_at (`simasn relay retry`).
RELAY_FAULTS_DDL = """
CREATE TABLE {schema}.relay_held (
    relay         text NOT NULL,
    position      bigint NOT NULL,
    event_type    text NOT NULL,
    error_type    text NOT NULL,
    error         text NOT NULL,
    attempts      integer NOT NULL DEFAULT 1,
    held_at       timestamptz NOT NULL DEFAULT now(),
    last_tried_at timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz,
    PRIMARY KEY (relay, position)
);
ALTER TABLE {schema}.relay_unrouted ADD COLUMN attempts integer NOT NULL DEFAULT 1,
    ADD COLUMN last_tried_at timestamptz;
CREATE INDEX relay_unrouted_by_type ON {schema}.relay_unrouted (event_type, position);
ALTER TABLE {schema}.relay_checkpoint ADD COLUMN retry_requested_at timestamptz;
GRANT SELECT, INSERT, UPDATE ON {schema}.relay_held TO {role};
GRANT DELETE ON {schema}.relay_unrouted TO {role};
"""

# What a state-changing call answered, per (caller, Idempotency-Key), written in the same
# transaction as the change (shared/idempotency.py).
IDEMPOTENCY_DDL = """
CREATE TABLE {schema}.idempotency_keys (
    caller      text NOT NULL,
    key         text NOT NULL,
    operation   text NOT NULL,
    fingerprint text NOT NULL,
    answer      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
GRANT SELECT, INSERT ON {schema}.idempotency_keys TO {role};
"""

# Many streams in one call (bulk imports): the head row is locked and updated once for the
# whole batch instead of once per stream. All-or-nothing: every stream's expected version and
# every event id is checked before anything is written; on any conflict nothing is written and
# the conflicting items are named, so the caller can drop them and call again.
APPEND_STREAMS_DDL = """
CREATE FUNCTION {schema}.append_streams(p_batch jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    head      record;
    problems  jsonb;
    ts        timestamptz;
    ts_text   text;
    pos       bigint;
    prev      text;
    link      text;
    item      record;
    e         jsonb;
    ver       integer;
BEGIN
    SELECT last_position, last_hash, last_recorded_at INTO head
      FROM {schema}.event_log_head WHERE id = 1 FOR UPDATE;
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.append_batch (
        ord integer, stream text, stream_type text, expected integer, metadata jsonb,
        events jsonb, current_v integer) ON COMMIT DROP;
    TRUNCATE pg_temp.append_batch;
    INSERT INTO pg_temp.append_batch
    SELECT x.ord, x.v->>'stream', x.v->>'stream_type', (x.v->>'expected')::integer,
           x.v->'metadata', x.v->'events',
           (SELECT coalesce(max(ev.version), 0) FROM {schema}.events ev
             WHERE ev.stream_id = x.v->>'stream')
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS x(v, ord);
    SELECT jsonb_agg(jsonb_build_object('index', b.ord - 1, 'current', b.current_v)
                     ORDER BY b.ord) INTO problems
      FROM pg_temp.append_batch b
     WHERE (b.expected IS NOT NULL AND b.expected <> b.current_v)
        OR EXISTS (SELECT 1 FROM jsonb_array_elements(b.events) AS n(e)
                   JOIN {schema}.events ev ON ev.event_id = (n.e->>'event_id')::uuid)
        OR (SELECT count(*) FROM pg_temp.append_batch o WHERE o.stream = b.stream) > 1;
    IF problems IS NOT NULL THEN
        RETURN jsonb_build_object('conflicts', problems);
    END IF;
    ts := greatest(clock_timestamp(), coalesce(head.last_recorded_at, '-infinity'));
    ts_text := to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    pos := head.last_position;
    prev := head.last_hash;
    FOR item IN SELECT * FROM pg_temp.append_batch ORDER BY ord LOOP
        ver := item.current_v;
        FOR e IN SELECT value FROM jsonb_array_elements(item.events) LOOP
            pos := pos + 1;
            ver := ver + 1;
            link := encode(sha256(convert_to(
                prev || '|' || pos || '|' || ver || '|' || ts_text || '|' || (e->>'content_hash'),
                'UTF8')), 'hex');
            INSERT INTO {schema}.events (position, event_id, stream_id, stream_type, version,
                    event_type, schema_version, payload, metadata, recorded_at, content_hash,
                    prev_hash, hash)
            VALUES (pos, (e->>'event_id')::uuid, item.stream, item.stream_type, ver,
                    e->>'event_type', (e->>'schema_version')::integer, e->'payload',
                    item.metadata, ts, e->>'content_hash', prev, link);
            prev := link;
        END LOOP;
    END LOOP;
    UPDATE {schema}.event_log_head
       SET last_position = pos, last_hash = prev, last_recorded_at = ts WHERE id = 1;
    RETURN jsonb_build_object('first', head.last_position + 1, 'last', pos);
END $$;
GRANT EXECUTE ON FUNCTION {schema}.append_streams(jsonb) TO {role};
"""


# What the signing service needs to sign a checkpoint of this log: the head (last position and
# hash) and, for the Merkle root over the events, their positions and chain hashes. Column
# privileges keep payloads and metadata (which may be confidential) out of its reach.
CHECKPOINT_READER_DDL = """
GRANT USAGE ON SCHEMA {schema} TO {checkpointer};
GRANT SELECT ON {schema}.event_log_head TO {checkpointer};
GRANT SELECT (position, hash) ON {schema}.events TO {checkpointer};
"""


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def ensure_database(admin_url: str) -> None:
    name = database_name(admin_url)
    conn = psycopg2.connect(with_database(admin_url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except psycopg2.errors.DuplicateDatabase:
                    pass
    finally:
        conn.close()


def ensure_role(cur, role: str, login: bool = True) -> None:
    """Roles are cluster-wide; several databases (and test runs) share them."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone():
        return
    cur.execute("SAVEPOINT create_role")
    try:
        cur.execute(
            sql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(
                sql.Identifier(role)
            )
        )
    except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
        cur.execute("ROLLBACK TO SAVEPOINT create_role")
    else:
        cur.execute("RELEASE SAVEPOINT create_role")


def service_migrations(service: str) -> list[tuple[str, str]]:
    folder = ROOT / "services" / service / "migrations"
    if not folder.is_dir():
        return []
    return [(path.stem, path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.sql"))]


def create_log_schema(cur, schema: str, role: str, auditor: str, extra: Iterable = (),
                      checkpointer: str | None = None) -> list[str]:
    """Create (or bring up to date) one service schema; returns the migrations it applied.
    `checkpointer` is the role that signs checkpoints of this log (created here if need be:
    the signing service's own schema may come later in the list)."""
    ensure_role(cur, role)
    ensure_role(cur, auditor)
    if checkpointer:
        ensure_role(cur, checkpointer)
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema))
    )
    cur.execute(sql.SQL("SELECT name FROM {}.schema_migrations").format(sql.Identifier(schema)))
    done = {row[0] for row in cur.fetchall()}
    applied = []
    steps = [("000_event_log", CORE_LOG_DDL), ("000_append_streams", APPEND_STREAMS_DDL),
             ("000_idempotency", IDEMPOTENCY_DDL), ("001_relay_faults", RELAY_FAULTS_DDL)]
    if checkpointer:
        steps.append(("000_checkpoint_reader", CHECKPOINT_READER_DDL))
    steps += extra
    for name, text in steps:
        if name in done:
            continue
        ddl = (
            text.replace("{schema}", schema)
            .replace("{role}", f'"{role}"')
            .replace("{auditor}", f'"{auditor}"')
            .replace("{checkpointer}", f'"{checkpointer}"')
            .replace("{genesis}", GENESIS_HASH)
            .replace("{{", "{")
            .replace("}}", "}")
        )
        cur.execute(ddl)
        cur.execute(
            sql.SQL("INSERT INTO {}.schema_migrations (name) VALUES (%s)").format(
                sql.Identifier(schema)
            ),
            (name,),
        )
        applied.append(f"{schema}/{name}")
    return applied


def migrate(admin_url: str, role_prefix: str = "simasn_",
            services: Iterable[str] = SERVICES) -> list[str]:
    """Create the database if needed, then every service's schema, roles and tables."""
    ensure_database(admin_url)
    conn = psycopg2.connect(admin_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('simasn.migrate'))")
            applied = []
            for service in services:
                applied += create_log_schema(
                    cur, service, role_prefix + service, role_prefix + "auditor",
                    service_migrations(service), checkpointer=role_prefix + "signing",
                )
        return applied
    finally:
        conn.close()
