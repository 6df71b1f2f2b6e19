"""Every service starts, answers its health RPC from its own schema and role; context travels
across RPC into event metadata and logs; database calls do not block the eventlet hub."""

import json
import uuid

import psycopg2
import pytest
from nameko.rpc import RpcProxy
from nameko.standalone.rpc import ServiceRpcProxy

from services.registry import service_classes
from shared.db import Database
from shared.eventstore import NO_STREAM, NewEvent
from shared.logging import get_logger
from shared.service import ServiceBase, rpc
from shared.testing import create_scratch_log
from tests.helpers import REGISTRY, signed

ALL = ["identity", "records", "requests", "verification", "signing", "reporting", "sync",
       "gateway"]
log = get_logger(__name__)


@pytest.mark.parametrize("service", ALL)
def test_each_service_answers_health_from_its_own_schema(service, container_factory,
                                                         identity_config, request):
    config = {**identity_config, "WEB_SERVER_ADDRESS": "127.0.0.1:0"}
    if service == "reporting":
        # whether a read model keeps up is judged from what the watch saw of it, stored in the
        # database: on the run's shared one, another test's reporting may have left a
        # subscription behind for PROJECTION_STALL_SECONDS (a stall, rightly) by the time
        # this test runs; here there must be none, so the service gets a database of its own
        config["DATABASE_URL"] = request.getfixturevalue("own_database")
    container = container_factory(service_classes()[service], config)
    container.start()
    with ServiceRpcProxy(service, config) as proxy:
        answer = proxy.health()
    position = answer.pop("log_position")
    relay = answer.pop("relay")
    # a service keeping read models says whether they keep up (reporting: usecases/watch.py)
    assert all(not p["stalled"] for p in answer.pop("projections", []))
    assert answer == {"service": service, "status": "ok", "database": "ok"}
    assert isinstance(position, int) and position >= 0
    # what an operator sees of the relay, read with the service's own role
    assert relay["head"] >= position and relay["lag"] == relay["head"] - relay["position"]
    assert set(relay) == {"head", "position", "lag", "held", "leader"}


def test_each_service_connects_as_its_own_least_privilege_role(admin_conn):
    with admin_conn.cursor() as cur:
        for service in ALL:
            cur.execute("SELECT has_table_privilege(%s, %s, 'UPDATE'), "
                        "has_table_privilege(%s, %s, 'INSERT'), "
                        "has_function_privilege(%s, %s, 'EXECUTE'), "
                        "has_schema_privilege(%s, 'records', 'USAGE')",
                        (f"simasn_{service}", f"{service}.events") * 2
                        + (f"simasn_{service}",
                           f"{service}.append_events(text, text, integer, jsonb, jsonb)",
                           f"simasn_{service}"))
            update, insert, append, records_usage = cur.fetchone()
            # it appends only through its log's function (tests/test_eventstore.py)
            assert (update, insert, append) == (False, False, True)
            # signing reads every log's head and chain hashes (signed checkpoints), no more:
            # tests/test_signing_checkpoints.py checks what exactly
            assert records_usage == (service in ("records", "signing")), \
                "no service reads another's schema"


def make_scratch_services(schema):
    class Scratch(ServiceBase):
        name = schema
        db = Database(REGISTRY)

        @rpc
        def record(self, stream, name, reason):
            log.info("recording_thing", stream=stream, password="hunter2")
            with self.db.transaction(reason=reason) as uow:
                return uow.append(stream, "Thing", NO_STREAM,
                                  [NewEvent("ThingHappened", {"name": name})])

        @rpc
        def rendezvous(self, me, other):
            """Wait inside PostgreSQL until `other` has arrived: only possible if both
            queries run at once in this one service process."""
            with self.db.transaction() as uow:
                uow.execute("INSERT INTO rendezvous VALUES (:me)", {"me": me})
            with self.db.transaction() as uow:
                uow.execute("SET LOCAL statement_timeout = '15s'")
                uow.execute(
                    "DO $$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM rendezvous "
                    f"WHERE name = '{other}') LOOP PERFORM pg_sleep(0.01); END LOOP; END $$")
            return me

    class Front(ServiceBase):
        name = f"{schema}_front"
        db = Database()
        scratch = RpcProxy(schema)

        @rpc
        def record_via(self, stream, name):
            return self.scratch.record(stream, name, "lewat front")

    return Scratch, Front


@pytest.fixture
def scratch(database_url):
    schema = create_scratch_log(database_url)
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.rendezvous (name text)")
    conn.close()
    return schema


def test_correlation_and_actor_travel_across_rpc_into_event_metadata_and_logs(
        scratch, container_factory, service_config, database_url, capfd):
    config = {**service_config, "DB_ROLE_PER_SERVICE": False, "LOG_LEVEL": "INFO"}
    scratch_cls, front_cls = make_scratch_services(scratch)
    for cls in (scratch_cls, front_cls):
        container_factory(cls, config).start()
    correlation = f"req-{uuid.uuid4().hex}"
    context = {"correlation_id": correlation, "actor_id": "196501011990031001",
               "actor_role": "fasilitator", "opd_id": "dinkes"}
    with ServiceRpcProxy(front_cls.name, config, context_data=signed(context, config)) as front:
        assert front.record_via("stream-ctx", "x") == [1]
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute(f"SELECT metadata FROM {scratch}.events")
        (metadata,) = cur.fetchone()
    conn.close()
    assert metadata == {**context, "reason": "lewat front"}
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()
             if line.startswith("{") and "recording_thing" in line]
    assert lines, "the worker logged a JSON line"
    assert lines[0]["correlation_id"] == correlation
    assert lines[0]["service"] == scratch
    assert lines[0]["actor_id"] == "196501011990031001"
    assert lines[0]["password"] == "[redacted]"


def test_two_slow_queries_in_one_service_overlap(scratch, container_factory, service_config):
    config = {**service_config, "DB_ROLE_PER_SERVICE": False}
    scratch_cls, _ = make_scratch_services(scratch)
    container_factory(scratch_cls, config).start()
    with ServiceRpcProxy(scratch, config) as proxy:
        first = proxy.rendezvous.call_async("a", "b")
        second = proxy.rendezvous.call_async("b", "a")
        assert (first.result(), second.result()) == ("a", "b")
