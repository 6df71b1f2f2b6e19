"""The kill loop in its short form (issue 18 part 3; the full run is `make bench-chaos`,
bench/chaos.py): the journeys (a KGB from request to signed, verified PDF; a record change; a
region's batch) run over HTTP through the gateway of a deployed stack while every one of its
nine processes is SIGKILLed at least once (ten kills) and its RabbitMQ and PostgreSQL are each
restarted once. The stack runs on a PostgreSQL cluster and a RabbitMQ node of the test's own
(bench/private_infra.py), so the restarts never touch the servers the rest of the suite uses.

It fails when a journey fails or is not done within the settle time after the last disruption,
or when an effect was lost or doubled: a request not completed exactly once, not one signed
document per request, an outcome or a proposed change applied twice, a region event received
or applied twice or out of order, a dead letter parked, the relay or a projection behind."""

from __future__ import annotations

import pytest

from bench import chaos

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


def test_the_journeys_survive_killed_processes_and_restarted_broker_and_database(tmp_path):
    plan = chaos.SHORT
    result = chaos.Chaos(plan, tmp_path).run()
    text = chaos.report(result, "Kill loop, short form (tests/test_chaos.py)")
    print(text)
    kills = [e for e in result["disruptions"] if e["kind"] == "kill"]
    from shared import SERVICES

    assert len(kills) >= plan.kills
    assert {e["what"] for e in kills} >= {*SERVICES, "gateway", "relay"}
    restarted = [e["what"].split()[0] for e in result["disruptions"] if e["kind"] == "restart"]
    assert sorted(restarted) == ["postgresql", "rabbitmq"], restarted
    assert not result["stuck"], f"journeys not done {plan.settle:.0f} s after the last " \
                                f"disruption: {result['stuck']}\n{text}"
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + text
    assert not result["checks"]["problems"], text
    done = {kind: sum(1 for j in result["journeys"] if j["kind"] == kind)
            for kind in plan.workers}
    assert all(done.values()), f"a journey kind never completed: {done}"
