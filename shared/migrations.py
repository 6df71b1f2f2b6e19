"""Schema migrations, run once per deployment (`simasn migrate`, a make target or a k8s Job) —
never by every replica at start.

Each service owns one PostgreSQL schema named after it and a login role. That role writes its
event log only by calling the schema's `append_events`/`append_streams`, which run as the NOLOGIN
role `<prefix>log_owner` that owns the log (SECURITY DEFINER); on the log's tables it has SELECT
and nothing else, so it cannot insert a back-dated event or move the head (`LOG_WRITER_DDL`).
UPDATE/DELETE/TRUNCATE of events are refused by triggers even for the owner.
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

# Where each catch-up subscription of this service got to in each source log: every event of
# its types up to `position` is handled (shared/subscriptions.py). Written in the transaction of
# the handler's effect, like the `consumed` marker.
SUBSCRIPTIONS_DDL = """
CREATE TABLE {schema}.subscriptions (
    name        text NOT NULL,
    source      text NOT NULL,
    position    bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, source)
);
GRANT SELECT, INSERT, UPDATE ON {schema}.subscriptions TO {role};
"""

# How events get in: two entry points and, behind them, the one loop that chains and inserts.
# Applied by every `migrate` (CREATE OR REPLACE, then ownership and grants), so a log created
# by older code is brought to it too. The tables and functions belong to a NOLOGIN role of
# their own (`<prefix>log_owner`); the entry points run with its rights (SECURITY DEFINER) and
# the service role, which is not a member of it, may only call them and SELECT. So whatever a
# service appends gets its position, version, time (the database clock, never earlier than the
# head's) and chain link from here, never from the caller: the events' JSON has no field for
# them and a service cannot INSERT into `events` or UPDATE `event_log_head` by itself.
# search_path is pinned (pg_catalog first, pg_temp last) so a caller cannot slip in its own
# functions, operators or tables, and no temporary table is used: a caller could have made one
# of that name beforehand, with a trigger that would then run with the owner's rights.
# See shared/eventstore.py for why positions never show a late commit and shared/canonical.py
# for the two hash levels. Outcomes come back as jsonb, not exceptions, so a conflict leaves
# the caller's transaction usable.
LOG_WRITER_DDL = """
-- The chain, once for both entry points. Called with the head row locked and every check
-- passed: per stream (one element each) its id, type, metadata and version now (read under
-- the lock) and how many events it gets; per event, in order, the event
-- ({event_id, event_type, schema_version, payload, content_hash}) and its content hash, all
-- unpacked by the entry point BEFORE it took the lock. Under the lock only the chain is linked
-- (one SHA-256 an event, into arrays) and the rows go in with ONE multi-row INSERT: an INSERT
-- per event cost more than the whole rest of a batch (docs/design/event-log.md, Performance).
-- Only its owner may run it (EXECUTE revoked from PUBLIC below); it runs with the rights and
-- search_path of the entry point that called it.
DROP FUNCTION IF EXISTS {schema}.chain_events(bigint, text, timestamptz, text[], text[],
                                              jsonb[], integer[], jsonb[]);
CREATE OR REPLACE FUNCTION {schema}.chain_events(p_last_position bigint, p_last_hash text,
                                                 p_last_recorded_at timestamptz,
                                                 p_streams text[], p_stream_types text[],
                                                 p_metadata jsonb[], p_versions integer[],
                                                 p_counts integer[], p_events jsonb[],
                                                 p_contents text[])
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    ts          timestamptz := greatest(clock_timestamp(),
                                        coalesce(p_last_recorded_at, '-infinity'));
    ts_text     text := '|' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                        || '|';
    pos         bigint := p_last_position;
    prev        text := p_last_hash;
    s           integer := 0;
    left_in_s   integer := 0;
    ver         integer;
    e_stream    integer[] := '{}';
    e_version   integer[] := '{}';
    e_prev      text[] := '{}';
    e_hash      text[] := '{}';
BEGIN
    FOR k IN 1 .. coalesce(array_length(p_events, 1), 0) LOOP
        WHILE left_in_s = 0 LOOP
            s := s + 1;
            left_in_s := p_counts[s];
            ver := p_versions[s];
        END LOOP;
        left_in_s := left_in_s - 1;
        pos := pos + 1;
        ver := ver + 1;
        e_stream[k] := s;
        e_version[k] := ver;
        e_prev[k] := prev;
        prev := encode(sha256(convert_to(prev || '|' || pos || '|' || ver || ts_text
                                         || p_contents[k], 'UTF8')), 'hex');
        e_hash[k] := prev;
    END LOOP;
    INSERT INTO {schema}.events (position, event_id, stream_id, stream_type, version,
            event_type, schema_version, payload, metadata, recorded_at, content_hash,
            prev_hash, hash)
    SELECT p_last_position + u.k, (u.e->>'event_id')::uuid, p_streams[u.s],
           p_stream_types[u.s], u.v, u.e->>'event_type', (u.e->>'schema_version')::integer,
           u.e->'payload', p_metadata[u.s], ts, p_contents[u.k], u.pv, u.h
      FROM unnest(p_events, e_stream, e_version, e_prev, e_hash)
           WITH ORDINALITY AS u(e, s, v, pv, h, k);
    UPDATE {schema}.event_log_head
       SET last_position = pos, last_hash = prev, last_recorded_at = ts WHERE id = 1;
    RETURN jsonb_build_object('first', p_last_position + 1, 'last', pos);
END $$;

-- One stream: one call, one round trip, the head row locked for as short a time as possible.
CREATE OR REPLACE FUNCTION {schema}.append_events(p_stream text, p_stream_type text,
                                                  p_expected integer, p_metadata jsonb,
                                                  p_events jsonb)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema}, pg_temp
AS $$
DECLARE
    head        record;
    n           integer := jsonb_array_length(p_events);
    found       integer;
    same_stream boolean;
    existing    jsonb;
    current_v   integer;
    events      jsonb[];
    contents    text[];
    ids         uuid[];
BEGIN
    -- unpacked before the lock: the lock is held for the checks, the chain and the INSERT
    SELECT array_agg(x.e ORDER BY x.ord), array_agg(x.e->>'content_hash' ORDER BY x.ord),
           array_agg((x.e->>'event_id')::uuid ORDER BY x.ord)
      INTO events, contents, ids
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, ord);
    SELECT last_position, last_hash, last_recorded_at INTO head
      FROM {schema}.event_log_head WHERE id = 1 FOR UPDATE;
    -- every statement below runs with a snapshot taken after the lock was granted
    SELECT count(ev.position), bool_and(ev.stream_id = p_stream),
           jsonb_agg(ev.position ORDER BY x.ord)
      INTO found, same_stream, existing
      FROM unnest(ids) WITH ORDINALITY AS x(id, ord)
      JOIN {schema}.events ev ON ev.event_id = x.id;
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
    RETURN {schema}.chain_events(head.last_position, head.last_hash, head.last_recorded_at,
                                 ARRAY[p_stream], ARRAY[p_stream_type], ARRAY[p_metadata],
                                 ARRAY[current_v], ARRAY[n], events, contents);
END $$;

-- Many streams in one call (bulk imports): the head row is locked and updated once for the
-- whole batch instead of once per stream. All-or-nothing: every stream's expected version and
-- every event id is checked before anything is written; on any conflict nothing is written and
-- the conflicting items are named, so the caller can drop them and call again.
CREATE OR REPLACE FUNCTION {schema}.append_streams(p_batch jsonb)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema}, pg_temp
AS $$
DECLARE
    head      record;
    problems  jsonb;
    b_streams  text[];
    b_types    text[];
    b_metadata jsonb[];
    b_versions integer[];
    b_counts   integer[];
    events     jsonb[];
    contents   text[];
BEGIN
    -- unpacked before the lock: every event of the batch in order, and its content hash
    SELECT array_agg(n.e ORDER BY b.ord, n.ord), array_agg(n.e->>'content_hash'
                                                           ORDER BY b.ord, n.ord)
      INTO events, contents
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b(v, ord),
           jsonb_array_elements(b.v->'events') WITH ORDINALITY AS n(e, ord);
    SELECT last_position, last_hash, last_recorded_at INTO head
      FROM {schema}.event_log_head WHERE id = 1 FOR UPDATE;
    WITH batch AS (
        SELECT x.ord, x.v->>'stream' AS stream, x.v->>'stream_type' AS stream_type,
               (x.v->>'expected')::integer AS expected, x.v->'metadata' AS metadata,
               x.v->'events' AS events,
               (SELECT coalesce(max(ev.version), 0) FROM {schema}.events ev
                 WHERE ev.stream_id = x.v->>'stream') AS current_v,
               count(*) OVER (PARTITION BY x.v->>'stream') AS times
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS x(v, ord)
    ), checked AS (
        SELECT b.*, (b.expected IS NOT NULL AND b.expected <> b.current_v)
                    OR b.times > 1
                    OR EXISTS (SELECT 1 FROM jsonb_array_elements(b.events) AS n(e)
                               JOIN {schema}.events ev ON ev.event_id = (n.e->>'event_id')::uuid)
                    AS conflicting
          FROM batch b
    )
    SELECT jsonb_agg(jsonb_build_object('index', c.ord - 1, 'current', c.current_v)
                     ORDER BY c.ord) FILTER (WHERE c.conflicting),
           array_agg(c.stream ORDER BY c.ord), array_agg(c.stream_type ORDER BY c.ord),
           array_agg(c.metadata ORDER BY c.ord), array_agg(c.current_v ORDER BY c.ord),
           array_agg(jsonb_array_length(c.events) ORDER BY c.ord)
      INTO problems, b_streams, b_types, b_metadata, b_versions, b_counts
      FROM checked c;
    IF problems IS NOT NULL THEN
        RETURN jsonb_build_object('conflicts', problems);
    END IF;
    RETURN {schema}.chain_events(head.last_position, head.last_hash, head.last_recorded_at,
                                 b_streams, b_types, b_metadata, b_versions, b_counts,
                                 events, contents);
END $$;

ALTER FUNCTION {schema}.chain_events(bigint, text, timestamptz, text[], text[], jsonb[],
                                     integer[], integer[], jsonb[], text[]) OWNER TO {owner};
ALTER FUNCTION {schema}.append_events(text, text, integer, jsonb, jsonb) OWNER TO {owner};
ALTER FUNCTION {schema}.append_streams(jsonb) OWNER TO {owner};
REVOKE ALL ON FUNCTION {schema}.chain_events(bigint, text, timestamptz, text[], text[], jsonb[],
                                          integer[], integer[], jsonb[], text[]),
                       {schema}.append_events(text, text, integer, jsonb, jsonb),
                       {schema}.append_streams(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.append_events(text, text, integer, jsonb, jsonb),
                          {schema}.append_streams(jsonb) TO {role};
GRANT USAGE ON SCHEMA {schema} TO {owner};
-- what older code granted the service role (INSERT on events, UPDATE on the head) goes
REVOKE ALL ON {schema}.events, {schema}.event_log_head FROM {role}, PUBLIC;
GRANT SELECT ON {schema}.events, {schema}.event_log_head TO {role};
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
                      checkpointer: str | None = None,
                      log_owner: str = "simasn_log_owner") -> list[str]:
    """Create (or bring up to date) one service schema; returns the migrations it applied.
    `checkpointer` is the role that signs checkpoints of this log (created here if need be:
    the signing service's own schema may come later in the list). `log_owner` owns the log
    and its writing functions (`secure_log_writer`)."""
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
    names = {"schema": schema, "role": role, "auditor": auditor, "checkpointer": checkpointer,
             "owner": log_owner}
    # a log made by older code also has "000_append_streams" recorded: its function is now
    # (re)written by secure_log_writer below, with append_events
    for name, text in [("000_event_log", CORE_LOG_DDL), ("000_idempotency", IDEMPOTENCY_DDL),
                       ("000_subscriptions", SUBSCRIPTIONS_DDL),
                       ("001_relay_faults", RELAY_FAULTS_DDL)]:
        if name not in done:
            cur.execute(_render(text, names))
            _record(cur, schema, name)
            applied.append(f"{schema}/{name}")
    secure_log_writer(cur, schema, role, log_owner)
    steps = [("000_checkpoint_reader", CHECKPOINT_READER_DDL)] if checkpointer else []
    for name, text in [*steps, *extra]:
        if name not in done:
            cur.execute(_render(text, names))
            _record(cur, schema, name)
            applied.append(f"{schema}/{name}")
    return applied


def secure_log_writer(cur, schema: str, role: str, log_owner: str) -> None:
    """Make `log_owner` (NOLOGIN) own the log's tables and writing functions, and leave the
    service role EXECUTE on the two entry points and SELECT on the tables, no more. Run by every
    `migrate`, idempotently: a log created by older code loses the INSERT/UPDATE its role had
    and gets the current functions."""
    ensure_role(cur, log_owner, login=False)
    cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (log_owner,))
    if cur.fetchone()[0]:
        cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(log_owner)))
    cur.execute("SELECT rolsuper, pg_has_role(current_user, %s, 'MEMBER'), "
                "has_schema_privilege(%s, %s, 'CREATE') FROM pg_roles "
                "WHERE rolname = current_user", (log_owner, log_owner, schema))
    superuser, member, creates = cur.fetchone()
    # a migrating role that is not a superuser (deploy/k8s: a CREATEROLE owner) may only hand
    # objects to a role it is a member of, and the new owner needs CREATE on the schema
    if not superuser and not member:
        cur.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(log_owner)))
    if not superuser and not creates:
        cur.execute(sql.SQL("GRANT CREATE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema), sql.Identifier(log_owner)))
    cur.execute(_render(LOG_WRITER_DDL, {"schema": schema, "role": role, "owner": log_owner}))
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_roles r ON r.oid = c.relowner WHERE n.nspname = %s "
        "AND c.relname IN ('events', 'event_log_head') AND r.rolname <> %s",
        (schema, log_owner),
    )
    # only when it changes: ALTER TABLE takes an exclusive lock even when there is nothing to do
    for (table,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(log_owner)))


def _render(text: str, names: dict[str, str | None]) -> str:
    ddl = text
    for key, value in names.items():
        ddl = ddl.replace("{" + key + "}", value if key == "schema" else f'"{value}"')
    return (ddl.replace("{genesis}", GENESIS_HASH).replace("{{", "{").replace("}}", "}"))


def _record(cur, schema: str, name: str) -> None:
    cur.execute(sql.SQL("INSERT INTO {}.schema_migrations (name) VALUES (%s)").format(
        sql.Identifier(schema)), (name,))


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
                    log_owner=role_prefix + "log_owner",
                )
        return applied
    finally:
        conn.close()
