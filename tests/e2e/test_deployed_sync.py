"""The AMQP push against the deployed stack (`make up`: sync in a process of its own, under its
own broker user): BKD onboards a kabupaten/kota over HTTP, the operator gives it a broker
identity with the CLI (`simasn broker region`), the region publishes a signed batch with the
reference client (`scripts/region_client.py amqp`), reads its feed status over the signed HTTP
route, and BKD reads the employee through the gateway."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from shared.testing import wait_for
from tests.e2e.harness import RABBIT_HOST, ROOT
from tests.identity_helpers import unique_nip
from tests.sync_helpers import change, onboard
from tests.test_sync_apply import registration

pytestmark = pytest.mark.timeout(300)
REGION = "3573"  # Kota Malang: no other end-to-end test onboards it


def region_client(stack, region, *args, env=None) -> subprocess.CompletedProcess:
    """The reference client as a region's IT team runs it."""
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "region_client.py"),
                           "--url", stack.url, "--region", region.code, "--key-id",
                           region.key_id, *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "SIMASN_SYNC_SECRET": region.secret,
                               **(env or {})})


def test_a_region_publishes_over_amqp_and_its_batch_is_applied(stack, client, tmp_path):
    admin = stack.login("admin.bkd")
    region = onboard(client, admin, REGION)
    made = stack.cli("broker", "region", REGION).stdout
    user = re.search(r"^(\S+): may publish only on sync\.region\.3573", made, re.M).group(1)
    password = re.search(r"password \(shown once\): (\S+)", made).group(1)
    try:
        nip = unique_nip()
        events = tmp_path / "events.jsonl"
        events.write_text("".join(json.dumps(e) + "\n" for e in (
            registration(1, nip, region=REGION),
            change(2, nip, data={"changes": {"name": "Dewi Lestari"}}))))
        published = region_client(stack, region, "amqp", str(events), env={
            "SIMASN_AMQP_URL": f"amqp://{user}:{password}@{RABBIT_HOST}:5672/{stack.vhost}"})
        assert published.returncode == 0, published.stderr
        assert len(published.stdout.splitlines()) == 1  # one batch, confirmed by the broker

        def applied():
            answer = region_client(stack, region, "status")
            assert answer.returncode == 0, answer.stdout + answer.stderr
            state = json.loads(answer.stdout)
            return state["applied_through"] == 2 and state
        state = wait_for(applied, timeout=60, message="the published batch applied")
        assert state["amqp_rejected"] == 0 and state["quarantined"] == 0
        record = client.call("GET", f"/api/employees/{nip}", token=admin)
        assert record.status == 200, record.body
        assert record.body["name"] == "Dewi Lestari"
        assert record.body["opd_id"].startswith(f"{REGION}.")
    finally:
        stack.cli("broker", "region", REGION, "--remove")
