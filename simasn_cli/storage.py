"""`simasn storage init`: the object store's buckets for documents and checkpoints, with Object
Lock, versioning, a default retention and a lifecycle rule (shared/storageinit.py)."""

from __future__ import annotations

import os

import click

from shared.config import load_default_env_file, load_yaml
from shared.storageinit import buckets_from_config, init_bucket

#: the keys read when SIMASN_CONFIG names no file (each from SIMASN_<KEY>)
KEYS = ("DOCUMENT_STORE", "DOCUMENT_BUCKET", "S3_ENDPOINT_URL", "S3_REGION", "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY", "SIGNING_WITNESS", "SIGNING_WITNESS_LOCK_MODE",
        "SIGNING_WITNESS_RETENTION_DAYS")


def _config() -> dict:
    load_default_env_file()
    path = os.environ.get("SIMASN_CONFIG")
    if path:
        return load_yaml(path, dict(os.environ))
    return {key: os.environ[f"SIMASN_{key}"] for key in KEYS if f"SIMASN_{key}" in os.environ}


@click.group()
def storage() -> None:
    """The object store (documents, the checkpoints' witness)."""


@storage.command("init")
@click.option("--bucket", "buckets", multiple=True,
              help="this bucket (repeatable); default: DOCUMENT_BUCKET and the witness's")
def init(buckets: tuple[str, ...]) -> int:
    """Create or check each bucket: Object Lock, versioning, default retention, lifecycle."""
    import boto3

    config = _config()
    mode = str(config.get("SIGNING_WITNESS_LOCK_MODE") or "COMPLIANCE").upper()
    days = int(float(config.get("SIGNING_WITNESS_RETENTION_DAYS") or 3650))
    kwargs = {arg: config[key] for key, arg in (
        ("S3_REGION", "region_name"), ("S3_ACCESS_KEY_ID", "aws_access_key_id"),
        ("S3_SECRET_ACCESS_KEY", "aws_secret_access_key")) if config.get(key)}
    client = boto3.client("s3", endpoint_url=config.get("S3_ENDPOINT_URL") or None, **kwargs)
    for bucket in buckets or buckets_from_config(config):
        report = init_bucket(client, bucket, mode, days)
        click.echo(f"{report.bucket}: {'created' if report.created else 'exists'}, object lock "
                   f"{report.lock_mode} {report.retention_days} days, versioning on, "
                   "incomplete uploads aborted after 7 days")
    return 0
