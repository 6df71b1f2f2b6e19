"""The witness store (issue 13 part 5): one contract for a directory and an S3 bucket (moto in
server mode, with and without Object Lock): a checkpoint's name is written once and never
replaced; on S3 with Object Lock the version written first stays and is what readers get."""

import os
import stat
import uuid

import pytest

from shared.errors import ConfigError, NotFound
from shared.testing import unpatched_ssl_context
from shared.witness import (
    LATEST,
    DirectoryWitness,
    HttpWitness,
    S3Witness,
    WitnessConflict,
    document,
    object_name,
    parse,
    position_of,
    witness_at,
    witness_from_config,
)
from tests import test_objectstore_contract
from tests.test_objectstore_contract import _s3_client

s3_endpoint = test_objectstore_contract.s3_endpoint

pytestmark = pytest.mark.timeout(30)


def _bucket() -> str:
    return f"simasn-witness-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["directory", "s3-object-lock", "s3-plain"])
def witness(request, tmp_path):
    if request.param == "directory":
        return DirectoryWitness(tmp_path / "witness")
    client = _s3_client(request.getfixturevalue("s3_endpoint"))
    bucket = _bucket()
    if request.param == "s3-plain":  # a bucket made by someone else, without Object Lock
        client.create_bucket(Bucket=bucket)
        return S3Witness(bucket, "simasn", client=client, retention_days=1)
    return S3Witness(bucket, "simasn", client=client, retention_days=1)


def _payload(n: int) -> dict:
    return {"heads": {"records": {"position": n, "hash": "ab" * 32}}, "signed_at": "x",
            "cms": "c2ln", "certificate_serial": "1", "trigger": "timer"}


class TestWitnessContract:
    def test_a_checkpoint_is_written_once_and_read_back(self, witness):
        assert witness.put_checkpoint(3, "2026-01-01T00:00:00.000000Z", _payload(3)) is True
        assert witness.put_checkpoint(3, "2026-01-01T00:00:00.000000Z", _payload(3)) is False
        held = witness.get(object_name(3))
        assert parse(held.data) == {"format": "simasn-checkpoint/1", "position": 3,
                                    "recorded_at": "2026-01-01T00:00:00.000000Z",
                                    "payload": _payload(3)}
        assert held.versions == 1

    def test_other_bytes_under_a_held_name_are_refused_and_the_first_stays(self, witness):
        witness.put_checkpoint(5, None, _payload(5))
        with pytest.raises(WitnessConflict):
            witness.put_checkpoint(5, None, _payload(6))
        assert parse(witness.get(object_name(5)).data)["payload"] == _payload(5)

    def test_names_are_the_checkpoints_in_position_order_without_the_pointer(self, witness):
        for position in (12, 2, 100):
            witness.put_checkpoint(position, None, _payload(position))
        assert witness.positions() == [2, 12, 100]
        assert parse(witness.get(LATEST).data)["position"] == 100  # the last written
        with pytest.raises(NotFound):
            witness.get(object_name(7))

    def test_an_empty_witness_has_no_checkpoints(self, witness):
        assert witness.names() == []


def test_directory_objects_are_read_only_files(tmp_path):
    witness = DirectoryWitness(tmp_path)
    witness.put_checkpoint(1, None, _payload(1))
    mode = os.stat(tmp_path / "checkpoints" / "000000000001.json").st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert witness.protection == "read-only files, an existing name refused"


def test_s3_object_lock_keeps_the_first_version_against_an_overwrite(s3_endpoint):
    client = _s3_client(s3_endpoint)
    witness = S3Witness(_bucket(), client=client, retention_days=2, lock_mode="COMPLIANCE")
    witness.put_checkpoint(1, None, _payload(1))
    assert witness.protection == "object lock COMPLIANCE, 2 days"
    key = object_name(1)
    head = client.head_object(Bucket=witness.bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] is not None
    # someone with the bucket's keys writes another version and tries to delete the first
    client.put_object(Bucket=witness.bucket, Key=key, Body=document(1, None, _payload(99)))
    versions = client.list_object_versions(Bucket=witness.bucket, Prefix=key)["Versions"]
    first = versions[-1]  # newest first
    assert not first["IsLatest"]
    with pytest.raises(Exception) as refused:
        client.delete_object(Bucket=witness.bucket, Key=key, VersionId=first["VersionId"])
    assert "AccessDenied" in str(refused.value)
    held = witness.get(key)
    assert parse(held.data)["payload"] == _payload(1)
    assert held.versions == 2


def test_s3_without_object_lock_says_so(s3_endpoint):
    client = _s3_client(s3_endpoint)
    bucket = _bucket()
    client.create_bucket(Bucket=bucket)
    witness = S3Witness(bucket, client=client)
    witness.put_checkpoint(1, None, _payload(1))
    assert witness.protection == "if-none-match only (the bucket has no object lock)"
    assert "ObjectLockMode" not in client.head_object(Bucket=bucket, Key=object_name(1))


def test_locations_and_config(tmp_path):
    assert isinstance(witness_at(str(tmp_path)), DirectoryWitness)
    assert isinstance(witness_at("https://simasn.example/api/public/checkpoints"), HttpWitness)
    with unpatched_ssl_context():
        s3 = witness_at("s3://simasn-witness/prod/", region_name="us-east-1")
    assert (s3.bucket, s3.prefix, s3.location) == ("simasn-witness", "prod/",
                                                   "s3://simasn-witness/prod/")
    assert witness_from_config({}) is None
    for config, key in (({"SIGNING_WITNESS": "s3://ab"}, "witness"),
                        ({"SIGNING_WITNESS": "https://x/api/public/checkpoints"},
                         "SIGNING_WITNESS"),
                        ({"SIGNING_WITNESS": "s3://bucket", "SIGNING_WITNESS_LOCK_MODE": "soft"},
                         "SIGNING_WITNESS_LOCK_MODE"),
                        ({"SIGNING_WITNESS": "s3://bucket",
                          "SIGNING_WITNESS_RETENTION_DAYS": "-1"},
                         "SIGNING_WITNESS_RETENTION_DAYS")):
        with pytest.raises(ConfigError) as err:
            witness_from_config(config)
        assert err.value.field == key
    assert [position_of(object_name(n)) for n in (1, 42)] == [1, 42]
    assert position_of(LATEST) is None
    with pytest.raises(ValueError):
        parse(b'{"format": "other"}')
