"""What `simasn audit verify` and `simasn audit consistency` do and print (shared/cli.py parses
the arguments and calls these): the chain walk held against the signing log's checkpoints, the
witness's copies of them (`--witness LOCATION`) and the auditor's own saved state (`--state
FILE`). Each returns the exit code: 0 when everything holds, 2 when anything does not."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from shared import audit
from shared import audit_checkpoints as cp
from shared import audit_witness as aw
from shared.audit_checkpoints import Judge
from shared.witness import witness_at

Out = Callable[[str], None]


def verify(conn, schemas: list[str], judge_signature: Judge, *, progress=None,
           witness: str | None = None, state: str | None = None, out: Out = print) -> int:
    sealed = cp.read_checkpoints(conn)
    cp.judge(sealed, judge_signature)
    accepted = aw.load_state(state) if state else {}
    failed = False
    walked: dict[str, audit.VerifyResult] = {}
    for schema in schemas:
        started = time.monotonic()
        result = audit.verify_log(conn, schema, progress=progress,
                                  marks=cp.marks(sealed, schema), keep_root=bool(state))
        walked[schema] = result
        took = time.monotonic() - started
        found = cp.findings(conn, schema, result, sealed)
        failed = failed or not result.ok or bool(found)
        if not result.ok:
            out(f"{schema}: BROKEN at position {result.position}: {result.problem}")
            for finding in found:
                out(f"{schema}: {finding}")
        elif found:
            for finding in found:
                out(f"{schema}: BROKEN: {finding}")
        else:
            held = cp.sealing(sealed, schema)
            note = (f"; {len(held)} checkpoint(s) hold, up to position "
                    f"{max(head['position'] for _, head in held)}" if held else "")
            out(f"{schema}: OK, {result.checked} events verified in {took:.2f}s{note}")
    untrusted = [c for c in sealed if not c.trusted]
    for checkpoint in untrusted:
        out(f"{checkpoint.label()}: NOT TRUSTED: {checkpoint.problem}")
    trusted = [c for c in sealed if c.trusted]
    if sealed:
        latest = f", latest trusted: {trusted[-1].label()}" if trusted else ""
        out(f"checkpoints: {len(sealed)} signed, {len(trusted)} trusted{latest}")
    else:
        out("checkpoints: none signed yet")
    failed = failed or bool(untrusted)
    if witness:
        failed = not _hold_against_witness(conn, schemas, witness, judge_signature, out) or failed
    if state:
        failed = not _hold_against_state(conn, walked, accepted, state, failed, out) or failed
    return 2 if failed else 0


def _hold_against_witness(conn, schemas: list[str], location: str, judge_signature: Judge,
                          out: Out) -> bool:
    witnessed = aw.read_witness(witness_at(location), judge_signature)
    ok = True
    for schema in schemas:
        holding = aw.hold_against(conn, schema, witnessed.checkpoints)
        if holding.ok:
            out(f"{schema}: witness: {holding.message()}")
        else:
            ok = False
            out(f"{schema}: witness: REWRITTEN: {holding.message()}")
    for checkpoint in witnessed.checkpoints:
        if not checkpoint.trusted:
            ok = False
            out(f"witness: {checkpoint.label()}: NOT TRUSTED: {checkpoint.problem}")
    for problem in witnessed.problems:
        ok = False
        out(f"witness: {problem}")
    trusted = witnessed.trusted()
    latest = f", latest: {trusted[-1].label()}" if trusted else ""
    out(f"witness {witnessed.location}: {len(witnessed.checkpoints)} checkpoint(s), "
        f"{len(trusted)} trusted{latest}")
    return ok


def _hold_against_state(conn, walked: dict[str, audit.VerifyResult], accepted: dict,
                        path: str, failed: bool, out: Out) -> bool:
    """Each log that verified must have only grown since the head accepted last time; the
    state file takes the new heads only when everything held."""
    ok = True
    fresh = dict(accepted)
    for schema, result in walked.items():
        if not result.ok or result.root is None:
            ok = False
            out(f"{schema}: state: not compared (the log does not verify)")
            continue
        before = accepted.get(schema)
        if before is None:
            out(f"{schema}: state: first seen, {result.checked} events accepted")
        else:
            grew, message = aw.only_grew(conn, schema, before, result.checked, result.root)
            out(f"{schema}: state: {message}" if grew else f"{schema}: state: REFUSED: {message}")
            ok = ok and grew
        fresh[schema] = aw.state_entry(result.checked, result.root)
    if ok and not failed:
        aw.save_state(path, fresh)
        out(f"state {path}: saved")
    else:
        out(f"state {path}: NOT updated (something above does not hold)")
    return ok


def consistency(conn, schemas: list[str], judge_signature: Judge, *, witness: str | None,
                old: int | None, new: int | None, as_json: bool, out: Out = print) -> int:
    """Consistency proofs per log between two trusted checkpoints (the witness's, or the
    signing log's without `witness`): by default the last two."""
    if witness:
        checkpoints = aw.read_witness(witness_at(witness), judge_signature).checkpoints
    else:
        checkpoints = cp.read_checkpoints(conn)
        cp.judge(checkpoints, judge_signature)
    first = aw.pick(checkpoints, old, -2)
    second = aw.pick(checkpoints, new, -1)
    docs = [aw.consistency(conn, schema, first, second) for schema in schemas]
    if as_json:
        out(json.dumps(docs, indent=2, ensure_ascii=False))
    else:
        for doc in docs:
            out(doc["reason"] if doc["holds"] else f"{doc['schema']}: NOT CONSISTENT: "
                                                   f"{doc['reason']}")
    return 0 if all(doc["holds"] for doc in docs) else 2
