"""Tamper evidence as the deployed system offers it (issue 13 part 5): the signing process
seals the logs soon after they grow and copies every checkpoint to the witness; anyone reads
the checkpoints through the gateway without logging in; an auditor holds the database against
that public copy with `simasn audit verify --witness URL`, the way an outside party would."""

from __future__ import annotations

import pytest

from shared.testing import wait_for

pytestmark = pytest.mark.timeout(240)


def _sealing_records(client):
    """The newest public checkpoint once it seals the demo employees' records."""
    answer = client.call("GET", "/api/public/checkpoints/latest")
    if answer.status != 200:
        return None
    heads = answer.body["payload"]["heads"]
    return answer.body if heads.get("records", {}).get("position", 0) > 0 else None


def test_checkpoints_are_public_and_an_auditor_holds_the_logs_against_them(stack, client):
    # the demo data grew every log: the signing process seals them within seconds
    latest = wait_for(lambda: _sealing_records(client), timeout=90,
                      message="a checkpoint of the records log at /api/public/checkpoints/latest")
    assert latest["format"] == "simasn-checkpoint/1"
    listing = client.call("GET", "/api/public/checkpoints?after=0&limit=500")
    assert listing.status == 200, listing.body
    assert listing.body["source"] == "witness"
    assert latest["position"] in [c["position"] for c in listing.body["checkpoints"]]
    one = client.call("GET", f"/api/public/checkpoints/{latest['position']}")
    assert one.status == 200 and one.body == latest
    missing = client.call("GET", "/api/public/checkpoints/999999999")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    bad = client.call("GET", "/api/public/checkpoints?limit=100000")
    assert bad.status == 422 and bad.body["code"] == "validation_failed"

    done = stack.cli("audit", "verify", "--witness", f"{stack.url}/api/public/checkpoints",
                     check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "records: witness:" in done.stdout
    assert "REWRITTEN" not in done.stdout and "NOT TRUSTED" not in done.stdout
