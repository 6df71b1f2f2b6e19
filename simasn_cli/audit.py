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


witness_option = click.option(
    "--witness", metavar="LOCATION",
    help="hold the logs against the checkpoints kept outside the database: a directory, "
         "s3://bucket[/prefix] or the URL of /api/public/checkpoints")


@audit.command()
@service_option
@progress_option
@trust_roots_option
@witness_option
@click.option("--state", metavar="FILE",
              help="the heads this auditor accepted last time: refuse a log that shrank or "
                   "forked since (consistency proof), then save the new heads")
@pass_env
def verify(env: Environment, services: tuple[str, ...], progress: bool | None,
           trust_roots: tuple[str, ...], witness: str | None, state: str | None) -> int:
    """Recompute the hash chains against the signed checkpoints.

    Also against the witness's copies of the checkpoints (--witness) and the heads this auditor
    accepted last time (--state). Exit 2 when anything does not hold."""
    from shared import audit as audit_logs

    conn = connect(auditor_url(env.config))
    try:
        schemas = audit_logs.existing_schemas(conn, services or SERVICES)
        return verify_logs(conn, schemas, signature_judge(trust_roots), progress=progress,
                           witness=witness, state=state)
    finally:
        conn.close()


def verify_logs(conn, schemas: list[str], judge_signature, *, progress=None,
                witness: str | None = None, state: str | None = None) -> int:
    """The chain walk held against the signing log's checkpoints, the witness's copies of them
    and the auditor's own saved state; 0 when everything holds, 2 when anything does not."""
    from shared import audit as audit_logs
    from shared import audit_checkpoints as cp
    from shared import audit_witness as aw

    sealed = cp.read_checkpoints(conn)
    cp.judge(sealed, judge_signature)
    accepted = aw.load_state(state) if state else {}
    failed = False
    walked: dict = {}
    for schema in schemas:
        started = time.monotonic()
        result = audit_logs.verify_log(conn, schema, progress=progress,
                                       marks=cp.marks(sealed, schema), keep_root=bool(state))
        walked[schema] = result
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
            click.echo(f"{schema}: OK, {result.checked} events verified in {took:.2f}s{note}")
    untrusted = [c for c in sealed if not c.trusted]
    for checkpoint in untrusted:
        click.echo(f"{checkpoint.label()}: NOT TRUSTED: {checkpoint.problem}")
    trusted = [c for c in sealed if c.trusted]
    if sealed:
        latest = f", latest trusted: {trusted[-1].label()}" if trusted else ""
        click.echo(f"checkpoints: {len(sealed)} signed, {len(trusted)} trusted{latest}")
    else:
        click.echo("checkpoints: none signed yet")
    failed = failed or bool(untrusted)
    if witness:
        failed = not _hold_against_witness(conn, schemas, witness, judge_signature) or failed
    if state:
        failed = not _hold_against_state(conn, walked, accepted, state, failed) or failed
    return 2 if failed else 0


def _hold_against_witness(conn, schemas: list[str], location: str, judge_signature) -> bool:
    from shared import audit_witness as aw
    from shared.witness import witness_at

    witnessed = aw.read_witness(witness_at(location), judge_signature)
    ok = True
    for schema in schemas:
        holding = aw.hold_against(conn, schema, witnessed.checkpoints)
        if holding.ok:
            click.echo(f"{schema}: witness: {holding.message()}")
        else:
            ok = False
            click.echo(f"{schema}: witness: REWRITTEN: {holding.message()}")
    for checkpoint in witnessed.checkpoints:
        if not checkpoint.trusted:
            ok = False
            click.echo(f"witness: {checkpoint.label()}: NOT TRUSTED: {checkpoint.problem}")
    for problem in witnessed.problems:
        ok = False
        click.echo(f"witness: {problem}")
    trusted = witnessed.trusted()
    latest = f", latest: {trusted[-1].label()}" if trusted else ""
    click.echo(f"witness {witnessed.location}: {len(witnessed.checkpoints)} checkpoint(s), "
               f"{len(trusted)} trusted{latest}")
    return ok


def _hold_against_state(conn, walked: dict, accepted: dict, path: str, failed: bool) -> bool:
    """Each log that verified must have only grown since the head accepted last time; the
    state file takes the new heads only when everything held."""
    from shared import audit_witness as aw

    ok = True
    fresh = dict(accepted)
    for schema, result in walked.items():
        if not result.ok or result.root is None:
            ok = False
            click.echo(f"{schema}: state: not compared (the log does not verify)")
            continue
        before = accepted.get(schema)
        if before is None:
            click.echo(f"{schema}: state: first seen, {result.checked} events accepted")
        else:
            grew, message = aw.only_grew(conn, schema, before, result.checked, result.root)
            click.echo(f"{schema}: state: {message}" if grew
                       else f"{schema}: state: REFUSED: {message}")
            ok = ok and grew
        fresh[schema] = aw.state_entry(result.checked, result.root)
    if ok and not failed:
        aw.save_state(path, fresh)
        click.echo(f"state {path}: saved")
    else:
        click.echo(f"state {path}: NOT updated (something above does not hold)")
    return ok


@audit.command()
@service_option
@click.option("--witness", metavar="LOCATION",
              help="take the checkpoints from the witness instead of the signing log")
@click.option("--from", "old", type=int, metavar="POSITION",
              help="the earlier checkpoint's position in the signing log")
@click.option("--to", "new", type=int, metavar="POSITION",
              help="the later checkpoint's position in the signing log")
@click.option("--json", "as_json", is_flag=True,
              help="the proofs as documents `audit verify-proof` checks offline")
@trust_roots_option
@pass_env
def consistency(env: Environment, services: tuple[str, ...], witness: str | None,
                old: int | None, new: int | None, as_json: bool,
                trust_roots: tuple[str, ...]) -> int:
    """RFC 6962 consistency proofs between two checkpoints.

    Per log, that the tree at the earlier checkpoint is a prefix of the tree at the later one
    (by default the last two trusted ones; the witness's with --witness)."""
    from shared import audit as audit_logs
    from shared import audit_checkpoints as cp
    from shared import audit_witness as aw
    from shared.witness import witness_at

    judge_signature = signature_judge(trust_roots)
    conn = connect(auditor_url(env.config))
    try:
        schemas = audit_logs.existing_schemas(conn, services or SERVICES)
        if witness:
            checkpoints = aw.read_witness(witness_at(witness), judge_signature).checkpoints
        else:
            checkpoints = cp.read_checkpoints(conn)
            cp.judge(checkpoints, judge_signature)
        first = aw.pick(checkpoints, old, -2)
        second = aw.pick(checkpoints, new, -1)
        docs = [aw.consistency(conn, schema, first, second) for schema in schemas]
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
    else:
        for doc in docs:
            click.echo(doc["reason"] if doc["holds"]
                       else f"{doc['schema']}: NOT CONSISTENT: {doc['reason']}")
    return 0 if all(doc["holds"] for doc in docs) else 2


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
    doc = doc if isinstance(doc, dict) else {}
    if doc.get("format") == "simasn-consistency-proof/1":
        from shared.audit_witness import check_consistency

        ok, message = check_consistency(doc, signature_judge(trust_roots))
    else:
        ok, message = cp.check_proof(doc, signature_judge(trust_roots))
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
