"""`simasn backup` and `simasn restore`: the database (one snapshot of every service's schema),
the document store and the witness, with a manifest of chain heads and hashes
(shared/backup.py says why the copy is consistent)."""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse

import click

from shared import backup as backups
from shared.errors import ConfigError
from simasn_cli.common import Environment, pass_env, raw_config

document_store_option = click.option(
    "--document-store", metavar="LOCATION",
    help="the document store: a directory or s3://bucket (default: DOCUMENT_STORE, "
         "DOCUMENT_ROOT, DOCUMENT_BUCKET of config.yaml and the environment)")
witness_option = click.option(
    "--witness", metavar="LOCATION",
    help="the witness: a directory or s3://bucket[/prefix] (backup: default SIGNING_WITNESS, "
         "unset: no witness; restore: a new location, never the configured one)")
key_option = click.option(
    "--key-file", type=click.Path(dir_okay=False), envvar="SIMASN_BACKUP_KEY_FILE",
    help="a secret whose HMAC signs the manifest (backup) or must match it (restore) "
         "[env SIMASN_BACKUP_KEY_FILE]")


def _document_store(location: str | None):
    from shared.objectstore import FileSystemStore, S3Store, store_from_config

    config = raw_config()
    if not location:
        return store_from_config(config)
    parts = urllib.parse.urlsplit(location)
    if parts.scheme == "s3":
        options = {arg: config[key] for key, arg in (
            ("S3_REGION", "region_name"), ("S3_ACCESS_KEY_ID", "aws_access_key_id"),
            ("S3_SECRET_ACCESS_KEY", "aws_secret_access_key")) if config.get(key)}
        return S3Store(parts.netloc, endpoint_url=config.get("S3_ENDPOINT_URL") or None,
                       **options)
    return FileSystemStore(location)


def _witness(location: str | None):
    from shared.witness import witness_at, witness_from_config

    if location:
        return witness_at(location)
    return witness_from_config(raw_config())


def _key(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            key = handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the backup key {path}: {exc.strerror}",
                          field="key_file") from None
    if len(key) < 16:
        raise ConfigError(f"the backup key {path} is shorter than 16 bytes", field="key_file")
    return key


@click.command()
@click.option("--to", "to", required=True, metavar="LOCATION",
              help="a directory or s3://bucket/prefix; the backup goes into a new "
                   "simasn-<UTC time>/ under it")
@document_store_option
@witness_option
@key_option
@click.option("--pg-dump", default="pg_dump", show_default=True, help="the pg_dump to run")
@pass_env
def backup(env: Environment, to: str, document_store: str | None, witness: str | None,
           key_file: str | None, pg_dump: str) -> int:
    """Back up the database, the documents and the witness.

    One database snapshot (every schema, the chain heads, the documents the tables name), then
    the documents and the witness's checkpoints, then a manifest with every file's hash.
    Exit 2 when a document the database names is not in the store."""
    stamp = dt.datetime.now(dt.UTC).strftime("simasn-%Y%m%dT%H%M%SZ")
    target = backups.location_at(to).child(stamp)
    outcome = backups.take(env.config.database_url, target, _document_store(document_store),
                           _witness(witness), pg_dump=pg_dump, key=_key(key_file))
    manifest = outcome.manifest
    for schema, head in manifest["logs"].items():
        click.echo(f"{schema}: head {head['position']} {head['hash']}")
    docs = manifest["documents"]
    click.echo(f"documents: {docs['count']} ({docs['bytes']} bytes), {docs['claimed']} named "
               "by the database")
    if manifest["witness"] is not None:
        held = manifest["witness"]
        click.echo(f"witness: {len(held['checkpoints'])} checkpoint(s)"
                   + (f", {held['after_snapshot']} newer than the snapshot left out"
                      if held["after_snapshot"] else ""))
    else:
        click.echo("witness: none configured")
    click.echo(f"database: {manifest['files'][backups.DATABASE]['size']} bytes in "
               f"{outcome.seconds['database']:.2f}s; documents in "
               f"{outcome.seconds['documents']:.2f}s")
    for problem in outcome.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    click.echo(f"backup: {target.location}")
    return 2 if outcome.problems else 0


@click.command()
@click.option("--from", "source", required=True, metavar="LOCATION",
              help="one backup: the simasn-<time>/ directory or s3:// prefix `backup` printed")
@click.option("--database-url", required=True, metavar="URL",
              help="the database to restore into (created if missing; must be empty)")
@document_store_option
@witness_option
@key_option
@click.option("--skip-witness", is_flag=True,
              help="restore without the backup's witness checkpoints")
@click.option("--force", is_flag=True,
              help="drop what the target database holds first (DESTROYS its data)")
@click.option("--pg-restore", default="pg_restore", show_default=True)
@click.option("--check-only", is_flag=True,
              help="only check the backup's files against its manifest; restore nothing")
def restore(source: str, database_url: str, document_store: str | None, witness: str | None,
            key_file: str | None, skip_witness: bool, force: bool, pg_restore: str,
            check_only: bool) -> int:
    """Restore a backup into an empty database and document/witness store.

    Every file is checked against the manifest before anything is written; afterwards each
    log's head and chain are compared with the manifest. Exit 2 if they differ. The witness is
    never taken from the configuration: give a new location (the production witness holds
    checkpoints newer than the backup), or --skip-witness."""
    location = backups.location_at(source)
    if check_only:
        manifest = backups.read_manifest(location, _key(key_file))
        problems = backups.check(location, manifest, dump_to=open(os.devnull, "wb"))
        for problem in problems:
            click.echo(f"PROBLEM: {problem}", err=True)
        click.echo(f"{location.location}: " + ("does NOT verify" if problems else
                                               "every file matches the manifest"))
        return 2 if problems else 0
    from shared.witness import witness_at

    outcome = backups.restore(location, database_url, _document_store(document_store),
                              witness_at(witness) if witness else None, force=force,
                              key=_key(key_file), pg_restore=pg_restore,
                              skip_witness=skip_witness)
    manifest = outcome.manifest
    for schema, stated in manifest["logs"].items():
        now = manifest["restored_heads"][schema]
        same = (now["position"], now["hash"]) == (stated["position"], stated["hash"])
        click.echo(f"{schema}: head {now['position']} {now['hash']} "
                   + ("= manifest" if same else "DIFFERS from the manifest"))
    click.echo(f"documents: {manifest['documents']['count']} restored; witness: "
               f"{len((manifest['witness'] or {}).get('checkpoints', []))} checkpoint(s)")
    click.echo("took: " + ", ".join(f"{k} {v:.2f}s" for k, v in outcome.seconds.items()))
    for problem in outcome.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if outcome.problems:
        return 2
    click.echo(f"restored {location.location} into {_safe(database_url)}: every chain head "
               "equals the manifest")
    return 0


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return urllib.parse.urlunsplit((parts.scheme, f"{parts.username or ''}@{host}"
                                    + (f":{parts.port}" if parts.port else ""),
                                    parts.path, "", ""))
