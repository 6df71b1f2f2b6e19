"""`simasn audit`: verify the hash chains against the signed checkpoints, prove one event's
inclusion, check a proof offline, replay a stream as of a moment, and read its timeline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from shared import SERVICES
from shared.errors import ValidationFailed
from simasn_cli.common import (
    Environment,
    auditor_url,
    connect,
    parse_time,
    pass_env,
    print_json,
    progress_option,
    service_option,
    signature_judge,
    trust_roots_option,
)


@click.group()
def audit() -> None:
    """Verify, replay and inspect the event logs.

    Connects as the auditor's read-only role."""


@audit.command()
@service_option
@progress_option
@trust_roots_option
@pass_env
def verify(env: Environment, services: tuple[str, ...], progress: bool | None,
           trust_roots: tuple[str, ...]) -> int:
    """Recompute the hash chains against the signed checkpoints.

    Exit 2 on a break or an untrusted checkpoint."""
    from shared import audit as audit_logs
    from shared import audit_checkpoints as cp

    conn = connect(auditor_url(env.config))
    try:
        schemas = audit_logs.existing_schemas(conn, services or SERVICES)
        sealed = cp.read_checkpoints(conn)
        cp.judge(sealed, signature_judge(trust_roots))
        failed = False
        for schema in schemas:
            started = time.monotonic()
            result = audit_logs.verify_log(conn, schema, progress=progress,
                                           marks=cp.marks(sealed, schema))
            took = time.monotonic() - started
            found = cp.findings(conn, schema, result, sealed)
            failed = failed or not result.ok or bool(found)
            if not result.ok:
                click.echo(f"{schema}: BROKEN at position {result.position}: {result.problem}")
                for finding in found:
                    click.echo(f"{schema}: {finding}")
            elif found:
                for finding in found:
                    click.echo(f"{schema}: BROKEN: {finding}")
            else:
                held = cp.sealing(sealed, schema)
                note = (f"; {len(held)} checkpoint(s) hold, up to position "
                        f"{max(head['position'] for _, head in held)}" if held else "")
                click.echo(f"{schema}: OK, {result.checked} events verified in {took:.2f}s"
                           f"{note}")
    finally:
        conn.close()
    untrusted = [c for c in sealed if not c.trusted]
    for checkpoint in untrusted:
        click.echo(f"{checkpoint.label()}: NOT TRUSTED: {checkpoint.problem}")
    trusted = [c for c in sealed if c.trusted]
    if sealed:
        latest = f", latest trusted: {trusted[-1].label()}" if trusted else ""
        click.echo(f"checkpoints: {len(sealed)} signed, {len(trusted)} trusted{latest}")
    else:
        click.echo("checkpoints: none signed yet")
    return 2 if failed or untrusted else 0


@audit.command()
@click.argument("schema", type=click.Choice(SERVICES), metavar="SERVICE")
@click.argument("position", type=int)
@trust_roots_option
@pass_env
def prove(env: Environment, schema: str, position: int, trust_roots: tuple[str, ...]) -> int:
    """An inclusion proof of one event (JSON).

    Proves the event at POSITION of SERVICE's log against the latest signed checkpoint;
    checkable offline with `audit verify-proof`."""
    from shared import audit_checkpoints as cp

    conn = connect(auditor_url(env.config))
    try:
        print_json(cp.prove(conn, schema, position, cp.read_checkpoints(conn),
                            signature_judge(trust_roots)))
    finally:
        conn.close()
    return 0


@audit.command("verify-proof")
@click.argument("file")
@trust_roots_option
def verify_proof(file: str, trust_roots: tuple[str, ...]) -> int:
    """Check a proof from `audit prove` offline.

    No database needed; exit 2 if it fails."""
    from shared import audit_checkpoints as cp

    try:
        doc = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{file} is not a readable JSON proof: {exc}",
                               field="file") from None
    ok, message = cp.check_proof(doc if isinstance(doc, dict) else {},
                                 signature_judge(trust_roots))
    click.echo(("proof holds: " if ok else "proof FAILS: ") + message)
    return 0 if ok else 2


@audit.command()
@click.option("--stream", required=True, help="the stream id, e.g. employee:<NIP>")
@click.option("--as-of", required=True, help="ISO 8601 time with its zone")
@service_option
@pass_env
def replay(env: Environment, stream: str, as_of: str, services: tuple[str, ...]) -> int:
    """The stream's state as of a moment, rebuilt from its events."""
    from services.registry import event_registry, load_folds
    from shared import audit as audit_logs

    load_folds()
    moment = parse_time(as_of)
    conn = connect(auditor_url(env.config))
    try:
        schema = audit_logs.find_stream(
            conn, stream, audit_logs.existing_schemas(conn, services or SERVICES))
        print_json(audit_logs.replay(conn, schema, stream, moment, event_registry(schema)))
    finally:
        conn.close()
    return 0


@audit.command()
@click.option("--stream", required=True, help="the stream id, e.g. employee:<NIP>")
@service_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table")
@pass_env
def timeline(env: Environment, stream: str, services: tuple[str, ...], as_json: bool) -> int:
    """Who did what to the stream, when and why."""
    from services.registry import event_registry
    from shared import audit as audit_logs

    conn = connect(auditor_url(env.config))
    try:
        schema = audit_logs.find_stream(
            conn, stream, audit_logs.existing_schemas(conn, services or SERVICES))
        rows = audit_logs.timeline(conn, schema, stream, event_registry(schema))
    finally:
        conn.close()
    if as_json:
        print_json(rows)
        return 0
    click.echo(f"{'when (UTC)':27} {'v':>4}  {'event':28} {'actor':24} {'role':13} reason")
    for r in rows:
        actor = r["actor_id"] or "-"
        click.echo(f"{r['recorded_at']:27} {r['version']:>4}  {r['event_type']:28} "
                   f"{actor:24} {r['actor_role'] or '-':13} {r['reason'] or ''}")
    return 0
