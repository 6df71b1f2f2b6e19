"""`simasn storage init` against a real S3 API (moto's server): the document and witness buckets
get Object Lock, versioning, a default retention and the lifecycle rule; running it again
changes nothing; a locked version cannot be deleted; a bucket made without Object Lock is
refused."""

from __future__ import annotations

import uuid

import pytest

from shared.testing import unpatched_ssl_context
from simasn_cli.main import main
from tests.test_objectstore_contract import S3_CREDENTIALS, _s3_client, s3_endpoint  # noqa: F401


@pytest.fixture
def s3_env(monkeypatch, s3_endpoint):  # noqa: F811 - the imported fixture
    documents, witness = (f"simasn-{kind}-{uuid.uuid4().hex[:10]}" for kind in ("doc", "wit"))
    monkeypatch.delenv("SIMASN_CONFIG", raising=False)
    for key, value in {"DOCUMENT_STORE": "s3", "DOCUMENT_BUCKET": documents,
                       "S3_ENDPOINT_URL": s3_endpoint, "S3_REGION": "us-east-1",
                       "S3_ACCESS_KEY_ID": S3_CREDENTIALS["aws_access_key_id"],
                       "S3_SECRET_ACCESS_KEY": S3_CREDENTIALS["aws_secret_access_key"],
                       "SIGNING_WITNESS": f"s3://{witness}/checkpoints",
                       "SIGNING_WITNESS_LOCK_MODE": "GOVERNANCE",
                       "SIGNING_WITNESS_RETENTION_DAYS": "30"}.items():
        monkeypatch.setenv(f"SIMASN_{key}", value)
    return documents, witness, _s3_client(s3_endpoint)


def _run(*args) -> int:
    with unpatched_ssl_context():
        return main(["storage", "init", *args])


@pytest.mark.timeout(120)
def test_init_locks_and_versions_both_buckets_idempotently(s3_env, capsys):
    documents, witness, client = s3_env
    assert _run() == 0
    assert "created" in capsys.readouterr().out
    assert _run() == 0
    assert capsys.readouterr().out.count("exists") == 2
    for bucket in (documents, witness):
        assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        assert lock["ObjectLockEnabled"] == "Enabled"
        retention = lock["Rule"]["DefaultRetention"]
        assert (retention["Mode"], retention["Days"]) == ("GOVERNANCE", 30)
        (rule,) = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    # a stored version is protected by the default retention: deleting it is refused
    version = client.put_object(Bucket=documents, Key="a", Body=b"sk")["VersionId"]
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.delete_object(Bucket=documents, Key="a", VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert client.get_object(Bucket=documents, Key="a", VersionId=version)["Body"].read() == b"sk"


@pytest.mark.timeout(120)
def test_an_existing_bucket_without_object_lock_is_refused(s3_env, capsys):
    documents, _, client = s3_env
    client.create_bucket(Bucket=documents)
    assert _run("--bucket", documents) == 1
    assert "without Object Lock" in capsys.readouterr().err
