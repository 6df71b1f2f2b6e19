#!/usr/bin/env python3
"""Reference client for a kabupaten/kota's IT team: signs and sends a batch of change events to
SIMASN Jatim, and reads the region's feed status and quarantine. Python standard library only;
copy it, read it, port it (docs/design/sync.md is the protocol, docs/panduan/
sinkronisasi-daerah.md the guide).

    export SIMASN_SYNC_SECRET='...'          # the key's secret, shown once at onboarding
    python region_client.py --url https://simasn.example --region 3507 --key-id 3507-ab12 \\
        send events.jsonl      # one event a line: event_id, sequence, kind, nip, data
    python region_client.py ... status
    python region_client.py ... quarantine
    python region_client.py ... snapshot pegawai.csv      # or .jsonl: the full snapshot
    python region_client.py ... get snapshots/<id>        # or reconciliations/<id>[/differences]

AMQP push instead of HTTP (needs `pip install pika`): the region's own RabbitMQ login, given by
BKD's operator (`simasn broker region <code>`), publishes each signed batch on the region's
exchange `sync.region.<code>`; the answer per event is read with `status`.

    export SIMASN_AMQP_URL='amqps://simasn-region-3507:PASSWORD@broker.simasn.example/simasn'
    python region_client.py --url https://simasn.example --region 3507 --key-id 3507-ab12 \
        amqp events.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


def signature(secret: str, timestamp: str, second_line: str, body: bytes) -> str:
    """HMAC-SHA256 over timestamp, newline, batch id (GET: method and path), newline, body."""
    base = timestamp.encode() + b"\n" + second_line.encode() + b"\n" + body
    return hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _base(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise SystemExit("--url must start with https:// (or http:// for a test server)")
    return url.rstrip("/")


def _call(request: urllib.request.Request) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - http(s) only, checked in _base
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def send_batch(url: str, region: str, key_id: str, secret: str, events: list[dict],
               batch_id: str | None = None, timestamp: int | None = None,
               body: bytes | None = None) -> tuple[int, object]:
    """POST one signed batch; returns (HTTP status, answer). A new batch id each call unless
    given; `body` overrides the JSON made from `events` (e.g. to send bytes as they are)."""
    batch_id = batch_id or str(uuid.uuid4())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    if body is None:
        body = json.dumps({"events": events}, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in _base
        f"{_base(url)}/api/sync/{region}/batches", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Simasn-Region": region,
                 "X-Simasn-Key-Id": key_id, "X-Simasn-Timestamp": stamp,
                 "X-Simasn-Batch-Id": batch_id,
                 "X-Simasn-Signature": signature(secret, stamp, batch_id, body)})
    return _call(request)


def batch_headers(region: str, key_id: str, secret: str, body: bytes,
                  batch_id: str | None = None, timestamp: int | None = None) -> dict:
    """The five signed headers of a batch (the same over HTTP and AMQP)."""
    batch_id = batch_id or str(uuid.uuid4())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Simasn-Region": region, "X-Simasn-Key-Id": key_id, "X-Simasn-Timestamp": stamp,
            "X-Simasn-Batch-Id": batch_id,
            "X-Simasn-Signature": signature(secret, stamp, batch_id, body)}


def publish_batches(amqp_url: str, region: str, key_id: str, secret: str,
                    batches: list[list[dict]], headers: list[dict] | None = None,
                    bodies: list[bytes] | None = None) -> list[str]:
    """Publish signed batches on the region's exchange over one connection, each confirmed by
    the broker (a refusal raises); returns their batch ids. `headers`/`bodies` override what is
    made from each batch (e.g. to send bytes as they are)."""
    import pika  # only the AMQP mode needs it

    ids = []
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for index, events in enumerate(batches):
            body = bodies[index] if bodies else json.dumps(
                {"events": events}, separators=(",", ":")).encode()
            signed = headers[index] if headers else batch_headers(region, key_id, secret, body)
            channel.basic_publish(
                exchange=f"sync.region.{region}", routing_key="batch", body=body,
                properties=pika.BasicProperties(content_type="application/json",
                                                delivery_mode=2, headers=signed),
                mandatory=True)
            ids.append(signed["X-Simasn-Batch-Id"])
    finally:
        connection.close()
    return ids


def signed_get(url: str, region: str, key_id: str, secret: str, what: str,
               timestamp: int | None = None, query: str = "") -> tuple[int, object]:
    """GET the region's `status`, `quarantine`, `snapshots/<id>`, `reconciliations/<id>`,
    `reconciliations/<id>/differences` or `reconciliations/<id>/corrections`, signed over method
    and path (the query string, e.g. `kind=field_mismatch&offset=100`, is not signed: it only
    pages a read)."""
    path = f"/api/sync/{region}/{what}"
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in _base
        _base(url) + path + (f"?{query}" if query else ""), method="GET",
        headers={"X-Simasn-Region": region, "X-Simasn-Key-Id": key_id,
                 "X-Simasn-Timestamp": stamp,
                 "X-Simasn-Signature": signature(secret, stamp, f"GET {path}", b"")})
    return _call(request)


SNAPSHOT_TYPES = {".csv": "text/csv", ".jsonl": "application/x-ndjson",
                  ".ndjson": "application/x-ndjson"}


def file_sha256(path: str) -> str:
    """The hex SHA-256 of a file, read 1 MB at a time (a snapshot is never held in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot_headers(region: str, key_id: str, secret: str, content_sha256: str,
                     snapshot_id: str | None = None, timestamp: int | None = None) -> dict:
    """The signed headers of a snapshot upload: the signature covers timestamp, snapshot id and
    the body's SHA-256 (X-Simasn-Content-SHA256), not the body itself."""
    snapshot_id = snapshot_id or str(uuid.uuid4())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Simasn-Region": region, "X-Simasn-Key-Id": key_id, "X-Simasn-Timestamp": stamp,
            "X-Simasn-Batch-Id": snapshot_id, "X-Simasn-Content-SHA256": content_sha256,
            "X-Simasn-Signature": signature(secret, stamp, snapshot_id,
                                            content_sha256.encode())}


def send_snapshot(url: str, region: str, key_id: str, secret: str, path: str,
                  content_type: str | None = None, snapshot_id: str | None = None,
                  content_sha256: str | None = None, timestamp: int | None = None
                  ) -> tuple[int, object]:
    """Upload a snapshot file, streamed from disk (its digest computed first, in one pass);
    answers 202 with the snapshot's id and status. `content_sha256` overrides the digest."""
    suffix = os.path.splitext(path)[1].lower()
    content_type = content_type or SNAPSHOT_TYPES.get(suffix, "text/csv")
    headers = snapshot_headers(region, key_id, secret, content_sha256 or file_sha256(path),
                               snapshot_id, timestamp)
    with open(path, "rb") as body:
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in _base
            f"{_base(url)}/api/sync/{region}/snapshots", data=body, method="POST",
            headers={**headers, "Content-Type": content_type,
                     "Content-Length": str(os.path.getsize(path))})
        return _call(request)


def _read_events(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="alamat SIMASN, mis. https://simasn.example")
    parser.add_argument("--region", required=True, help="kode BPS daerah, mis. 3507")
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--batch-size", type=int, default=500)
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send", help="kirim peristiwa dari berkas JSON lines")
    send.add_argument("events_file")
    amqp = sub.add_parser("amqp", help="terbitkan peristiwa lewat AMQP (SIMASN_AMQP_URL)")
    amqp.add_argument("events_file")
    snapshot = sub.add_parser("snapshot", help="unggah snapshot lengkap (CSV atau JSON lines)")
    snapshot.add_argument("snapshot_file")
    get = sub.add_parser("get", help="baca snapshots/<id>, reconciliations/<id>[/differences]")
    get.add_argument("what")
    get.add_argument("--query", default="", help="mis. kind=field_mismatch&offset=0&limit=100")
    sub.add_parser("status", help="status umpan daerah")
    sub.add_parser("quarantine", help="peristiwa yang dikarantina dan alasannya")
    corrections = sub.add_parser("corrections", help="perbaikan yang diminta BKD dari satu "
                                                     "rekonsiliasi")
    corrections.add_argument("reconciliation_id")
    args = parser.parse_args(argv)
    secret = os.environ.get("SIMASN_SYNC_SECRET")
    if not secret:
        print("set SIMASN_SYNC_SECRET to the key's secret", file=sys.stderr)
        return 2
    if args.command == "amqp":
        amqp_url = os.environ.get("SIMASN_AMQP_URL")
        if not amqp_url:
            print("set SIMASN_AMQP_URL to the region's broker login", file=sys.stderr)
            return 2
        events = _read_events(args.events_file)
        batches = [events[i:i + args.batch_size] for i in range(0, len(events), args.batch_size)]
        for batch_id in publish_batches(amqp_url, args.region, args.key_id, secret, batches):
            print(json.dumps({"published": batch_id}))
        return 0
    if args.command == "snapshot":
        status, answer = send_snapshot(args.url, args.region, args.key_id, secret,
                                       args.snapshot_file)
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0 if status == 202 else 1
    if args.command == "get":
        status, answer = signed_get(args.url, args.region, args.key_id, secret, args.what,
                                    query=args.query)
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0 if status == 200 else 1
    if args.command != "send":
        what = f"reconciliations/{args.reconciliation_id}/corrections" \
            if args.command == "corrections" else args.command
        status, answer = signed_get(args.url, args.region, args.key_id, secret, what)
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0 if status == 200 else 1
    events = _read_events(args.events_file)
    for start in range(0, len(events), args.batch_size):
        status, answer = send_batch(args.url, args.region, args.key_id, secret,
                                    events[start:start + args.batch_size])
        print(json.dumps({"status": status, "answer": answer}, ensure_ascii=False))
        if status != 200:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
