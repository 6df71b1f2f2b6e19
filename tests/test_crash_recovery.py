"""Crash test: publish 5,000 events while the relay and a consumer service are SIGKILLed at
random moments and restarted. Every effect must be applied exactly once, nothing lost, and a
handler that always raises must end in the dead-letter store with its error."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from shared.testing import create_scratch_log, wait_for
from shared.topology import declare
from tests.helpers import append_things, create_effects_table, fetch, make_consumer_service

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 5000
POISON = 20


class Proc:
    def __init__(self, name, argv, env, log_dir):
        self.name, self.argv, self.env = name, argv, env
        self.log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in kill()
        self.kills = 0
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            self.kills += sig == signal.SIGKILL


@pytest.mark.slow
def test_sigkilled_relay_and_consumer_lose_nothing_and_apply_each_event_once(
        database_url, rabbit_config, tmp_path, caller_keys):
    source = create_scratch_log(database_url)
    consumer = create_scratch_log(database_url)
    create_effects_table(database_url, consumer)
    amqp = rabbit_config["AMQP_URI"]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        **caller_keys, "AMQP_URI": amqp, "DATABASE_URL": database_url, "DB_ROLE_PER_SERVICE": False,
        "LOG_LEVEL": "WARNING", "CONSUMER_RETRY_ATTEMPTS": 3, "CONSUMER_RETRY_BASE_DELAY": 0.01,
    }))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRASH_CONSUMER_SCHEMA": consumer,
           "CRASH_SOURCE_SCHEMA": source, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    nameko = str(Path(sys.executable).with_name("nameko"))
    relay = Proc("relay", [sys.executable, "-m", "tests.crash.relay_main", database_url, source,
                           amqp], env, tmp_path)
    service = Proc("consumer", [nameko, "run", "--config", str(config),
                                "tests.crash.consumer_service:Consumer"], env, tmp_path)

    # as `simasn migrate` does at deploy: queues exist before the first event is relayed
    declare(amqp, [make_consumer_service(consumer, source)])
    append_things(database_url, source, EVENTS // 2)
    append_things(database_url, source, POISON, event_type="PoisonPill", per_stream=1)
    relay.start()
    service.start()
    writer = threading.Thread(target=append_things,
                              args=(database_url, source, EVENTS - EVENTS // 2))
    writer.start()

    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    applied = lambda: fetch(database_url, f"SELECT count(*) FROM {consumer}.effects")[0][0]  # noqa: E731
    try:
        plan = [[relay], [service], [relay, service]] * 2
        rng.shuffle(plan)
        for victims in plan:
            time.sleep(rng.uniform(0.2, 1.0))
            for victim in victims:
                victim.kill()
                victim.start()
        writer.join(timeout=120)
        wait_for(lambda: applied() >= EVENTS, timeout=180, message=f"{EVENTS} effects")
        wait_for(lambda: fetch(database_url,
                               f"SELECT count(*) FROM {consumer}.dead_letters")[0][0] == POISON,
                 timeout=60, message="poison events parked")
        # a marker behind everything: once applied, all earlier deliveries have been seen
        append_things(database_url, source, 1)
        wait_for(lambda: applied() >= EVENTS + 1, timeout=60, message="the marker")
    finally:
        service.kill(signal.SIGTERM)  # graceful: in-flight workers finish
        relay.kill()
        print(f"kills: relay {relay.kills}, consumer {service.kills}")

    total, distinct = fetch(database_url,
                            f"SELECT count(*), count(DISTINCT position) FROM {consumer}.effects")[0]
    assert (total, distinct) == (EVENTS + 1, EVENTS + 1), "each event applied exactly once"
    (missing,) = fetch(database_url, f"""
        SELECT count(*) FROM {source}.events e
        WHERE e.event_type = 'ThingHappened'
          AND NOT EXISTS (SELECT 1 FROM {consumer}.effects f WHERE f.position = e.position)""")[0]
    assert missing == 0
    letters = fetch(database_url, f"SELECT error_type, error, status FROM {consumer}.dead_letters")
    assert len(letters) == POISON
    assert all(t == "RuntimeError" and "cannot digest" in e and s == "parked"
               for t, e, s in letters)
    assert relay.kills >= 4 and service.kills >= 4
