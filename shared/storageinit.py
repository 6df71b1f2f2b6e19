"""The object store's buckets made ready once per deployment (`simasn storage init`, the
Kubernetes Job simasn-storage-init): documents and checkpoints must outlive any mistake or
attack on the keys that write them, so each bucket has

- S3 Object Lock (it can only be turned on when the bucket is created: an existing bucket
  without it is refused, never silently accepted),
- versioning (Object Lock needs it; an overwrite or delete leaves the old version),
- a default retention (SIGNING_WITNESS_LOCK_MODE for SIGNING_WITNESS_RETENTION_DAYS): no
  version can be deleted before it expires, in COMPLIANCE mode not even by the account's root,
- a lifecycle rule aborting multipart uploads left incomplete for a week (their parts cost
  storage and are never visible).

Idempotent: run again, it checks the bucket and sets the same configuration."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import ConfigError, StoreUnavailable

LIFECYCLE = {"Rules": [{"ID": "abort-incomplete-multipart-uploads", "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}
_MISSING = {"404", "NoSuchBucket", "NotFound"}


@dataclass(frozen=True)
class BucketReport:
    bucket: str
    created: bool
    lock_mode: str
    retention_days: int


def buckets_from_config(config: dict) -> list[str]:
    """The document bucket (DOCUMENT_BUCKET) and the witness's (SIGNING_WITNESS=s3://bucket/..),
    each once."""
    names = []
    if str(config.get("DOCUMENT_STORE") or "").strip().lower() == "s3":
        if not config.get("DOCUMENT_BUCKET"):
            raise ConfigError("DOCUMENT_BUCKET is required with DOCUMENT_STORE=s3",
                              field="DOCUMENT_BUCKET")
        names.append(str(config["DOCUMENT_BUCKET"]).strip())
    witness = str(config.get("SIGNING_WITNESS") or "")
    if witness.startswith("s3://"):
        names.append(witness[len("s3://"):].split("/", 1)[0])
    if not names:
        raise ConfigError("no S3 bucket configured (DOCUMENT_STORE=s3 with DOCUMENT_BUCKET, or "
                          "SIGNING_WITNESS=s3://...)", field="DOCUMENT_BUCKET")
    return list(dict.fromkeys(names))


def init_bucket(client, bucket: str, lock_mode: str, retention_days: int) -> BucketReport:
    """Create `bucket` with Object Lock if missing, then set versioning, the default retention
    and the lifecycle rule. Raises ConfigError for an existing bucket without Object Lock."""
    from botocore.exceptions import BotoCoreError, ClientError

    if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
        raise ConfigError("the lock mode is COMPLIANCE or GOVERNANCE",
                          field="SIGNING_WITNESS_LOCK_MODE")
    if retention_days < 1:
        raise ConfigError("the retention is at least one day",
                          field="SIGNING_WITNESS_RETENTION_DAYS")
    created = False
    try:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in _MISSING:
                raise
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
            created = True
        try:
            lock = client.get_object_lock_configuration(Bucket=bucket)
            enabled = lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except ClientError:
            enabled = None
        if enabled != "Enabled":
            raise ConfigError(f"bucket {bucket} exists without Object Lock, which can only be "
                              "enabled when a bucket is created: create a new bucket",
                              field="DOCUMENT_BUCKET")
        client.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": "Enabled"})
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": lock_mode, "Days": retention_days}}})
        client.put_bucket_lifecycle_configuration(Bucket=bucket,
                                                  LifecycleConfiguration=LIFECYCLE)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise StoreUnavailable(f"the object store refused to set up {bucket} ({code})") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"the object store cannot be reached: {exc}") from exc
    return BucketReport(bucket, created, lock_mode, retention_days)
