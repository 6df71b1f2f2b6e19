"""The gateway's session cache keeps "logout, account disabled, role removed take effect at
once" at every replica: identity answers an access change only after every replica holding a
lease dropped the account's cached sessions (services/identity/fences.py,
services/gateway/dependencies.py). Two gateway replicas, one identity, real RabbitMQ and
PostgreSQL."""

from __future__ import annotations

import socket
import time
import uuid

import jwt
import psycopg2
import pytest
from kombu import Connection
from kombu.pools import connections

from services.gateway.dependencies import SessionCache
from services.gateway.service import GatewayService
from services.identity.fences import Announcer, Fence, scope_of
from services.identity.service import IdentityService
from shared.db import make_engine
from shared.testing import wait_for
from tests.gateway_helpers import Client, free_port, http_login
from tests.identity_helpers import People, context_of, rpc

LEASE = 3  # SESSION_LEASE_SECONDS: renewals every second


def cache_of(container) -> SessionCache:
    return next(d for d in container.dependencies if isinstance(d, SessionCache))


@pytest.fixture
def replicas(container_factory, identity_config):
    """Identity and two gateway replicas with a session cache; yields (clients, caches,
    people, config)."""
    config = {**identity_config, "SESSION_LEASE_SECONDS": LEASE,
              "GATEWAY_SESSION_CACHE_SECONDS": 300}
    container_factory(IdentityService, config).start()
    clients, caches, containers = [], [], []
    for _ in range(2):
        port = free_port()
        container = container_factory(GatewayService,
                                      {**config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
        container.start()
        containers.append(container)
        clients.append(Client(f"http://127.0.0.1:{port}"))
        caches.append(cache_of(container))
    wait_for(lambda: all(c.enabled for c in caches), timeout=20,
             message="both replicas to hold a session-cache lease")
    people = People(config)
    yield clients, caches, people, config, containers
    people.close()


def warm(client, cache, token) -> None:
    """Two reads: the second is answered from the replica's cache."""
    assert client.call("GET", "/api/me", token=token).status == 200
    assert client.call("GET", "/api/me", token=token).status == 200
    assert cache.entries, "the replica should have cached the session"


def test_logout_at_one_replica_is_refused_at_the_other_the_moment_it_is_answered(replicas):
    (a, b), (cache_a, cache_b), people, _, _ = replicas
    nip = people.pegawai()
    token = http_login(a, people, nip)
    warm(a, cache_a, token)
    warm(b, cache_b, token)
    fences_before = cache_b.fences_handled

    assert a.call("POST", "/api/auth/logout", token=token).status == 204
    # no waiting: identity answered the logout only after replica b acknowledged it
    assert b.call("GET", "/api/me", token=token).status == 401
    assert a.call("GET", "/api/me", token=token).status == 401
    assert cache_b.fences_handled > fences_before


def test_disabling_and_role_removal_made_elsewhere_hold_at_every_replica_at_once(replicas):
    (a, b), (cache_a, cache_b), people, config, _ = replicas
    admin = people.login(people.staff(["administrator"]))
    staff = people.staff(["administrator"])
    staff_token = http_login(a, people, staff)
    for client, cache in ((a, cache_a), (b, cache_b)):
        assert client.call("GET", "/api/accounts", token=staff_token).status == 200
        assert client.call("GET", "/api/accounts", token=staff_token).status == 200
    nip = people.pegawai()
    token = http_login(b, people, nip)
    warm(a, cache_a, token)
    warm(b, cache_b, token)

    with rpc(config, context_of(admin["principal"], "administrator")) as identity:
        identity.change_role(staff, False, {"role": "administrator", "reason": "mutasi",
                                            "opd_scope": []})
        for client in (a, b):  # the role is gone at both replicas the moment it is answered
            assert client.call("GET", "/api/accounts", token=staff_token).status == 403
        identity.set_account_status(nip, False, {"reason": "diberhentikan"})
        for client in (a, b):
            assert client.call("GET", "/api/me", token=token).status == 401


def test_a_replica_that_stops_answering_holds_up_a_revocation_only_until_its_lease_ends(
        replicas, database_url):
    (a, _), _, people, config, _ = replicas
    engine = make_engine(database_url, schema="identity", pool_size=1)
    silent = str(uuid.uuid4())
    with engine.begin() as conn:  # a replica that took a lease, then went quiet
        conn.exec_driver_sql(
            "INSERT INTO session_cache_leases (holder, scope, expires_at) VALUES "
            "(%(h)s, %(s)s, now() + interval '2 seconds')",
            {"h": silent, "s": scope_of(config["AMQP_URI"])})
    announcer = Announcer(config["AMQP_URI"], scope_of(config["AMQP_URI"]), engine)
    outcome = announcer.wait(Fence(0, ("nobody",)))
    # the two running replicas answered; the silent one was waited for until its lease ended
    assert outcome == {"holders": 3, "acknowledged": 2, "expired": 1}
    with engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM session_cache_leases WHERE holder = %(h)s "
            "AND expires_at > now()", {"h": silent}).scalar_one() == 0

    # and a logout still goes through while it waits
    nip = people.pegawai()
    token = http_login(a, people, nip)
    assert a.call("POST", "/api/auth/logout", token=token).status == 204
    assert a.call("GET", "/api/me", token=token).status == 401
    engine.dispose()


def test_a_replica_that_missed_an_announcement_empties_its_cache_at_the_next_renewal(
        replicas, database_url):
    (a, _), (cache_a, _), people, _, _ = replicas
    nip = people.pegawai()
    token = http_login(a, people, nip)
    warm(a, cache_a, token)
    # a fence recorded but never announced (as if the replica's queue was down at the time)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO identity.session_fences (account_ids) VALUES (%s)", ([nip],))
    wait_for(lambda: not cache_a.entries, timeout=LEASE * 3,
             message="the replica to empty its cache after seeing an unknown fence")
    assert a.call("GET", "/api/me", token=token).status == 200  # asked identity again


def test_an_answer_fetched_before_a_fence_is_not_cached_after_it(replicas):
    _, (cache_a, _), _, _, _ = replicas
    principal = {"account_id": "x", "session_id": str(uuid.uuid4()), "roles": ["pegawai"],
                 "cache_until": time.time() + 600}
    generation = cache_a.generation
    cache_a.forget(["someone-else"])  # a fence arrived while identity was being asked
    cache_a.store("token-1", principal, generation)
    assert "token-1" not in cache_a.entries
    cache_a.store("token-1", principal, cache_a.generation)
    assert cache_a.lookup("token-1") == principal
    # never kept past what identity said (the token's, the session's or an agreement's end)
    cache_a.store("token-2", {**principal, "cache_until": time.time() - 1}, cache_a.generation)
    assert "token-2" not in cache_a.entries
    cache_a.forget(["x"])
    assert "token-1" not in cache_a.entries


def test_identity_bounds_a_cached_answer_by_the_token_and_session(replicas):
    (a, _), _, people, config, _ = replicas
    nip = people.pegawai()
    token = http_login(a, people, nip)
    with rpc(config) as identity:
        principal = identity.authenticate(token)
    claims = jwt.decode(token, config["TOKEN_SIGNING_KEY"], algorithms=["HS256"],
                        issuer="simasn-jatim/identity")
    assert principal["cache_until"] == claims["exp"]  # the token ends before its session


def test_a_stopped_replica_gives_its_lease_back(replicas, database_url):
    _, (_, cache_b), _, _, containers = replicas
    containers[1].stop()
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM identity.session_cache_leases WHERE holder = %s",
                    (cache_b.holder,))
        assert cur.fetchone()[0] == 0


def test_a_pooled_broker_connection_that_died_while_idle_is_replaced(replicas, database_url):
    _, (cache_a, cache_b), _, config, _ = replicas
    engine = make_engine(database_url, schema="identity", pool_size=1)
    announcer = Announcer(config["AMQP_URI"], scope_of(config["AMQP_URI"]), engine)
    assert announcer.wait(Fence(0, ("nobody",)))["acknowledged"] == 2
    with connections[Connection(config["AMQP_URI"], connect_timeout=5)].acquire(
            block=True) as idle:  # the network drops the idle pooled connection
        idle.connection.transport.sock.shutdown(socket.SHUT_RDWR)
    handled = cache_a.fences_handled, cache_b.fences_handled
    outcome = announcer.wait(Fence(0, ("nobody",)))
    assert outcome == {"holders": 2, "acknowledged": 2, "expired": 0}
    assert (cache_a.fences_handled, cache_b.fences_handled) == (handled[0] + 1, handled[1] + 1)
    engine.dispose()
