"""`simasn`: the operator's and auditor's command line.

  simasn migrate                          schemas, roles and broker topology, once per deploy
  simasn relay [--service S ...] [--heartbeat 30] [--confirm-timeout 30] [--retry-interval 60]
                                          run the outbox relays (one per service log)
  simasn relay status [--service S] [--json]
                                          per log: head, relay position and lag, leader, held
                                          and unrouted events; exit 1 while an event is held
  simasn relay retry [--service S] [--wait SECONDS]
                                          ask the leaders to offer held and unrouted events again
  simasn health [--wait SECONDS]          ask every service's health RPC
  simasn keys                             fresh identity keys as environment lines
  simasn admin create --username U --name N --email E [--password-stdin]
  simasn seed demo [--seed N] [--pegawai N]
  simasn audit verify [--service S] [--trust-roots PEM]
                                          recompute the hash chains and check them against the
                                          signed checkpoints; non-zero exit on a break
  simasn audit prove SERVICE POSITION [--trust-roots PEM]
                                          an inclusion proof of one event (JSON, offline-checkable)
  simasn audit verify-proof FILE [--trust-roots PEM]
  simasn audit replay --stream ID --as-of TIMESTAMP [--service S]
  simasn audit timeline --stream ID [--service S]
  simasn records check                    replay every employee and compare with the stored row
  simasn records rebuild [--nip NIP ...]  re-derive stored rows from the log
  simasn deadletters list [--service S] [--all]
  simasn deadletters retry SERVICE:ID
  simasn deadletters discard SERVICE:ID --reason TEXT
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psycopg2

from shared import SERVICES
from shared.config import (
    ServiceConfig,
    from_environment,
    load_default_env_file,
    load_yaml,
    with_user,
)
from shared.errors import ConfigError, SimasnError, ValidationFailed
from shared.logging import configure_logging


def _connect(url: str):
    return psycopg2.connect(url, application_name="simasn-cli")


def _auditor_url(config: ServiceConfig) -> str:
    if not config.db_role_per_service:
        return config.database_url
    return with_user(config.database_url, config.db_role_prefix + "auditor")


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _parse_letter(ref: str) -> tuple[str, int]:
    service, _, number = ref.partition(":")
    if service not in SERVICES or not number.isdigit():
        raise ValidationFailed("give a dead letter as SERVICE:ID, e.g. records:12", field="id")
    return service, int(number)


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-30T10:00:00+07:00", field="as_of"
        ) from None
    if value.tzinfo is None:
        raise ValidationFailed("give the time zone too, e.g. +07:00 for WIB", field="as_of")
    return value


def cmd_migrate(args, config: ServiceConfig) -> int:
    from shared.migrations import migrate
    from shared.topology import declare

    applied = migrate(config.database_url, config.db_role_prefix)
    for name in applied:
        print(f"applied {name}")
    print(f"database up to date ({len(applied)} migrations applied)")
    if not args.skip_broker:
        declared = declare(config.amqp_uri)
        print(f"broker topology declared ({len(declared)} exchanges and queues)")
        if args.broker_users:
            args.broker_command = "setup"
            return cmd_broker(args, config)
    return 0


def cmd_relay(args, config: ServiceConfig) -> int:
    from shared.relay import run_relays

    if args.relay_command:
        return _relay_ops(args, config)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_relays(config.service_database_url, args.service or list(SERVICES), config.amqp_uri,
               stop=stop, batch_size=args.batch_size, heartbeat=args.heartbeat,
               confirm_timeout=args.confirm_timeout, retry_interval=args.retry_interval)
    return 0


def _relay_ops(args, config: ServiceConfig) -> int:
    from shared import audit, relayops

    conn = _connect(config.database_url)
    try:
        schemas = audit.existing_schemas(conn, args.service or SERVICES)
        if args.relay_command == "retry":
            for schema in schemas:
                asked = relayops.request_retry(conn, schema)
                print(f"{schema}: retry requested of {asked} relay(s)")
            deadline = time.monotonic() + args.wait
            while any(relayops.retry_pending(conn, s) for s in schemas):
                if time.monotonic() > deadline:
                    print("not yet taken up by a leader (is `simasn relay` running?)")
                    return 1
                time.sleep(0.5)
        statuses = [relayops.relay_status(conn, schema) for schema in schemas]
    finally:
        conn.close()
    if getattr(args, "json", False):
        _print_json(statuses)
    else:
        for status in statuses:
            print("\n".join(relayops.format_status(status)))
    return 1 if any(status["held"] for status in statuses) else 0


def cmd_keys(args, config: ServiceConfig | None) -> int:
    """Fresh identity keys, as environment lines (for .run/secrets.env or a Secret)."""
    import secrets

    from cryptography.fernet import Fernet

    from shared import brokerauth
    from shared.callers import dev_keys

    print(f"SIMASN_TOKEN_SIGNING_KEY={secrets.token_urlsafe(48)}")
    print(f"SIMASN_SECRET_ENCRYPTION_KEY={Fernet.generate_key().decode()}")
    for key, value in dev_keys().items():
        print(f"SIMASN_{key}={value}")
    for process, password in brokerauth.new_passwords().items():
        print(f"{brokerauth.env_name(process)}={password}")
    return 0


def _broker_passwords(environ=None) -> dict[str, str]:
    from shared import brokerauth

    env = os.environ if environ is None else environ
    missing = [brokerauth.env_name(p) for p in brokerauth.processes()
               if not env.get(brokerauth.env_name(p))]
    if missing:
        raise ValidationFailed(f"set {', '.join(missing)} (simasn keys prints them)",
                               field=missing[0])
    return {p: env[brokerauth.env_name(p)] for p in brokerauth.processes()}


def cmd_broker(args, config: ServiceConfig) -> int:
    """Per-process RabbitMQ users (shared/brokerauth.py): `setup` creates them with their
    permissions on the vhost of SIMASN_AMQP_URI (as its administrator login, through the
    management API); `uri PROCESS` prints the AMQP URI that process connects with."""
    from urllib.parse import unquote, urlsplit

    from shared import brokerauth

    prefix = os.environ.get("SIMASN_BROKER_USER_PREFIX", "simasn-")
    if args.broker_command == "uri":
        if args.process not in brokerauth.processes():
            raise ValidationFailed(f"unknown process {args.process}", field="process")
        print(brokerauth.uri_for(config.amqp_uri, prefix + args.process,
                                 _broker_passwords()[args.process]))
        return 0
    parts = urlsplit(config.amqp_uri)
    management = brokerauth.Management(
        os.environ.get("SIMASN_RABBIT_MANAGEMENT_URL",
                       f"http://{parts.hostname or '127.0.0.1'}:15672"),
        unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    vhost = brokerauth.vhost_of(config.amqp_uri)
    if args.broker_command == "remove":
        brokerauth.remove(management, prefix)
        print(f"removed the users {prefix}*")
        return 0
    grants = brokerauth.apply(management, vhost, _broker_passwords(), prefix)
    for grant in grants:
        print(f"{grant.user}: permissions on vhost {vhost!r} set "
              f"({len(grant.topics)} topic exchange(s) restricted)")
    return 0


#: identity's own config keys, read from SIMASN_<KEY> when no SIMASN_CONFIG file is given
IDENTITY_KEYS = ("TOKEN_SIGNING_KEY", "SECRET_ENCRYPTION_KEY")
IDENTITY_OPTIONAL_KEYS = ("ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "RESET_TOKEN_TTL",
                          "LOGIN_THROTTLE_FREE_ATTEMPTS", "LOGIN_THROTTLE_BASE_SECONDS",
                          "LOGIN_THROTTLE_MAX_SECONDS", "ARGON2_TIME_COST",
                          "ARGON2_MEMORY_KIB", "NOTIFICATION_OUTBOX")


def identity_config(environ: dict | None = None) -> dict:
    """The config mapping the identity service would get: the yaml file named by
    SIMASN_CONFIG, else the SIMASN_* variables. Its keys must be the running service's own
    (TOTP secrets are sealed with SECRET_ENCRYPTION_KEY), so a missing one fails, named."""
    env = os.environ if environ is None else environ
    path = env.get("SIMASN_CONFIG")
    if path:
        raw = load_yaml(path, env)
    else:
        raw = {key: env[f"SIMASN_{key}"] for key in IDENTITY_KEYS + IDENTITY_OPTIONAL_KEYS
               if env.get(f"SIMASN_{key}")}
    for key in IDENTITY_KEYS:
        if not raw.get(key):
            raise ConfigError(
                f"SIMASN_{key} is not set; give the identity service's own value (`make up` "
                "writes it to .run/secrets.env, which simasn reads when run from the project "
                "directory; SIMASN_ENV_FILE names another file)", field=key)
    return raw


def cmd_admin(args, config: ServiceConfig) -> int:
    """The first administrator of a new installation (or a new one when none can log in):
    password typed twice (or one line on stdin), TOTP secret shown once."""
    import pyotp

    from services.identity.bootstrap import Bootstrap
    from services.identity.security import totp_uri

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Kata sandi administrator: ")
        if getpass.getpass("Ulangi kata sandi: ") != password:
            raise ValidationFailed("kedua kata sandi tidak sama", field="password")
    bootstrap = Bootstrap(config, identity_config(), actor=f"operator:{getpass.getuser()}")
    try:
        if bootstrap.exists(args.username):
            raise ValidationFailed(f"akun {args.username} sudah ada", field="username")
        secret = pyotp.random_base32()
        bootstrap.create({"login": args.username, "display_name": args.name,
                          "email": args.email, "roles": ["administrator"],
                          "reason": args.reason}, password, totp_secret=secret)
    finally:
        bootstrap.close()
    print(f"administrator {args.username} dibuat.")
    print("Tambahkan ke aplikasi autentikator (ditampilkan sekali ini saja):")
    print(f"  {totp_uri(secret, args.username)}")
    return 0


def cmd_seed(args, config: ServiceConfig) -> int:
    """A demo province through identity's own use cases; credentials go to stdout only."""
    from services.identity import seed
    from services.identity.bootstrap import Bootstrap
    from shared.progress import Progress

    raw = identity_config()
    accounts = seed.plan(args.seed, args.pegawai)
    bootstrap = Bootstrap(config, raw)
    progress = Progress("pegawai", sum("pegawai" in a.roles for a in accounts),
                        enabled=args.progress)
    try:
        report = seed.seed_demo(bootstrap, accounts, on_pegawai=progress.advance)
    finally:
        progress.close()
        bootstrap.close()
    from services.records.seed import seed_records

    pegawai = [(a.login, a.display_name, a.home_opd) for a in accounts if "pegawai" in a.roles]
    progress = Progress("data pegawai", len(pegawai), enabled=args.progress)
    try:
        created, existing = seed_records(config.service_database_url("records"), pegawai,
                                         on_each=progress.advance)
    finally:
        progress.close()
    print("\n".join(seed.summary(report, args.seed, raw)))
    print(f"Employee records: {created} registered with their histories, {existing} already "
          "there.")
    return 0


def keystore_dir_from_config() -> str:
    """SIGNING_KEYSTORE_DIR as the services read it (config.yaml and the environment)."""
    return str(_raw_config().get("SIGNING_KEYSTORE_DIR") or "var/keystore")


def _raw_config() -> dict:
    path = os.environ.get("SIMASN_CONFIG", "config.yaml")
    return load_yaml(path) if os.path.exists(path) else {}


def cmd_pki(args, config: ServiceConfig | None) -> int:
    """A development PKI for the signing service; production certificates come from BSrE."""
    from services.signing import pki

    directory = Path(args.dir or keystore_dir_from_config())
    if args.pki_command == "init":
        if (directory / "keystore.json").exists() and args.if_missing:
            print(f"{directory}: key store already there, left as it is")
            return 0
        signers = [{"account_id": s.split("=", 1)[0], "name": s.split("=", 1)[1].split("|")[0],
                    "jabatan": (s.split("|", 1)[1] if "|" in s else "Pejabat BKD")}
                   for s in args.signer or []]
        try:
            index = pki.init(directory, signers, force=args.force)
        except FileExistsError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{directory}: development root CA, {len(index['signers'])} signer(s), seal and "
              "TSA certificates (NOT for production: use BSrE certificates there)")
        return 0
    pki.add_signer(directory, args.account, args.name, args.jabatan)
    print(f"{directory}: certificate for {args.account} ({args.name}, {args.jabatan})")
    return 0


def cmd_health(args, config: ServiceConfig) -> int:
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + args.wait
    pending = list(args.service or SERVICES)
    answers: dict = {}
    with ClusterRpcProxy({"AMQP_URI": config.amqp_uri}, timeout=5) as cluster:
        while True:
            for service in list(pending):
                try:
                    answers[service] = getattr(cluster, service).health()
                    pending.remove(service)
                except Exception as exc:  # noqa: BLE001 - report, keep asking
                    answers[service] = {"status": "down", "error": type(exc).__name__}
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
    _print_json(answers)
    return 1 if pending else 0


def _trust_root_paths(args) -> list[str]:
    """Where the certificates a checkpoint's seal must chain to come from: --trust-roots, else
    SIMASN_SIGNING_TRUST_ROOTS (PEM files separated by the path separator), else the trust
    roots listed in the signing key store's index (SIGNING_KEYSTORE_DIR as the services read
    it: where `simasn pki init` and `make up` put it) — only its public root certificates."""
    if args.trust_roots:
        return list(args.trust_roots)
    listed = os.environ.get("SIMASN_SIGNING_TRUST_ROOTS")
    if listed:
        return [path for path in listed.split(os.pathsep) if path]
    index = Path(keystore_dir_from_config()) / "keystore.json"
    try:
        names = json.loads(index.read_text(encoding="utf-8")).get("trust_roots") or []
    except (OSError, ValueError, AttributeError):
        names = []
    if not names:
        raise ConfigError(
            "signed checkpoints need the signing CA's root certificate, and the signing key "
            f"store's index {index.absolute()} (SIGNING_KEYSTORE_DIR) names none; give "
            "--trust-roots FILE.pem, set SIMASN_SIGNING_TRUST_ROOTS=FILE.pem, or set "
            "SIMASN_SIGNING_KEYSTORE_DIR to the key store's directory",
            field="trust_roots")
    return [str(index.parent / name) for name in names]


def _signature_judge(args):
    """verify(payload) -> (ok, reason) against the trust roots, loaded at the first use (a log
    without checkpoints needs none)."""
    from services.signing import checkpoints

    roots: list = []

    def verify(payload: dict) -> tuple[bool, str]:
        if not roots:
            roots.extend(checkpoints.load_trust_roots(_trust_root_paths(args)))
        return checkpoints.verify_signature(payload, roots)

    return verify


def _audit_verify(conn, args, schemas) -> int:
    from shared import audit
    from shared import audit_checkpoints as cp

    sealed = cp.read_checkpoints(conn)
    cp.judge(sealed, _signature_judge(args))
    failed = False
    for schema in schemas:
        started = time.monotonic()
        result = audit.verify_log(conn, schema, progress=args.progress,
                                  marks=cp.marks(sealed, schema))
        took = time.monotonic() - started
        found = cp.findings(conn, schema, result, sealed)
        failed = failed or not result.ok or bool(found)
        if not result.ok:
            print(f"{schema}: BROKEN at position {result.position}: {result.problem}")
            for finding in found:
                print(f"{schema}: {finding}")
        elif found:
            for finding in found:
                print(f"{schema}: BROKEN: {finding}")
        else:
            held = cp.sealing(sealed, schema)
            note = (f"; {len(held)} checkpoint(s) hold, up to position "
                    f"{max(head['position'] for _, head in held)}" if held else "")
            print(f"{schema}: OK, {result.checked} events verified in {took:.2f}s{note}")
    untrusted = [c for c in sealed if not c.trusted]
    for checkpoint in untrusted:
        print(f"{checkpoint.label()}: NOT TRUSTED: {checkpoint.problem}")
    trusted = [c for c in sealed if c.trusted]
    if sealed:
        latest = f", latest trusted: {trusted[-1].label()}" if trusted else ""
        print(f"checkpoints: {len(sealed)} signed, {len(trusted)} trusted{latest}")
    else:
        print("checkpoints: none signed yet")
    return 2 if failed or untrusted else 0


def _audit_proof(args) -> int:
    from shared import audit_checkpoints as cp

    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{args.file} is not a readable JSON proof: {exc}",
                               field="file") from None
    ok, message = cp.check_proof(doc if isinstance(doc, dict) else {}, _signature_judge(args))
    print(("proof holds: " if ok else "proof FAILS: ") + message)
    return 0 if ok else 2


def cmd_audit(args, config: ServiceConfig) -> int:
    from shared import audit

    if args.audit_command == "verify-proof":
        return _audit_proof(args)
    conn = _connect(_auditor_url(config))
    try:
        if args.audit_command == "prove":
            from shared import audit_checkpoints as cp

            _print_json(cp.prove(conn, args.schema, args.position, cp.read_checkpoints(conn),
                                 _signature_judge(args)))
            return 0
        schemas = audit.existing_schemas(conn, args.service or SERVICES)
        if args.audit_command == "verify":
            return _audit_verify(conn, args, schemas)
        schema = audit.find_stream(conn, args.stream, schemas)
        if args.audit_command == "replay":
            _print_json(audit.replay(conn, schema, args.stream, _parse_time(args.as_of)))
            return 0
        rows = audit.timeline(conn, schema, args.stream)
        if args.json:
            _print_json(rows)
        else:
            print(f"{'when (UTC)':27} {'v':>4}  {'event':28} {'actor':24} {'role':13} reason")
            for r in rows:
                actor = r["actor_id"] or "-"
                print(f"{r['recorded_at']:27} {r['version']:>4}  {r['event_type']:28} "
                      f"{actor:24} {r['actor_role'] or '-':13} {r['reason'] or ''}")
        return 0
    finally:
        conn.close()


def cmd_records(args, config: ServiceConfig) -> int:
    from services.records import projection

    url = config.database_url
    if config.db_role_per_service:
        url = with_user(url, config.db_role_prefix + "records")
    conn = _connect(url)
    try:
        if args.records_command == "rebuild":
            written = projection.rebuild(conn, nips=set(args.nip) if args.nip else None)
            print(f"records: {written} stored record(s) re-derived from the log")
            return 0
        report = projection.check(conn)
        for nip, keys in report.mismatched:
            print(f"MISMATCH {nip}: {', '.join(keys)}")
        for nip in report.missing:
            print(f"MISSING  {nip}: in the log, no stored record")
        for nip in report.orphaned:
            print(f"ORPHAN   {nip}: stored record without events")
        if report.ok:
            print(f"records: OK, replay equals the stored record for all {report.checked} "
                  "employees")
            return 0
        print("records: run `simasn records rebuild` to re-derive the stored records")
        return 2
    finally:
        conn.close()


def cmd_deadletters(args, config: ServiceConfig) -> int:
    from shared import audit, deadletters

    actor = os.environ.get("SIMASN_OPERATOR") or getpass.getuser()
    conn = _connect(config.database_url)
    try:
        if args.dl_command == "list":
            rows = []
            for schema in audit.existing_schemas(conn, args.service or SERVICES):
                rows += deadletters.list_dead_letters(conn, schema, None if args.all else "parked")
            if args.json:
                _print_json(rows)
            else:
                for r in rows:
                    print(f"{r['service']}:{r['id']}  {r['status']:9} {r['consumer']}  "
                          f"{r['source']}#{r['position']} {r['event_type']}  "
                          f"attempts={r['attempts']}  {r['error_type']}: {r['error'][:120]}")
                print(f"{len(rows)} dead letter(s)")
            return 0
        schema, letter_id = _parse_letter(args.id)
        if args.dl_command == "retry":
            queue = deadletters.retry_dead_letter(conn, schema, letter_id, config.amqp_uri, actor)
            print(f"{schema}:{letter_id} republished to {queue}")
        else:
            deadletters.discard_dead_letter(conn, schema, letter_id, actor, args.reason)
            print(f"{schema}:{letter_id} discarded")
        return 0
    finally:
        conn.close()


def _add_trust_roots(parser) -> None:
    parser.add_argument("--trust-roots", action="append", metavar="PEM",
                        help="root certificate the checkpoints' seal must chain to (repeatable; "
                             "default SIMASN_SIGNING_TRUST_ROOTS, else the signing key store's "
                             "root certificates)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simasn", description="SIMASN Jatim operations")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="create/upgrade schemas, roles and broker topology")
    p.add_argument("--skip-broker", action="store_true")
    p.add_argument("--broker-users", action="store_true",
                   help="also create each process's RabbitMQ user (as `simasn broker setup`)")

    p = sub.add_parser("relay", help="run outbox relays (no subcommand), or see/retry them")
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--heartbeat", type=float, default=30,
                   help="broker heartbeat in seconds; a silent broker is given up after two (30)")
    p.add_argument("--confirm-timeout", type=float, default=30,
                   help="longest wait for the broker to confirm one publish, seconds (30)")
    p.add_argument("--retry-interval", type=float, default=60,
                   help="how often unrouted events are offered again, seconds (60)")
    rsub = p.add_subparsers(dest="relay_command")
    p = rsub.add_parser("status", help="per log: head, position, lag, leader, held, unrouted")
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--json", action="store_true")
    p = rsub.add_parser("retry", help="offer held and unrouted events again (after a fix, or "
                                      "once a queue is bound); then print the status")
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--wait", type=float, default=30,
                   help="seconds to wait for the leaders to take the request up (30)")

    sub.add_parser("keys", help="print fresh identity keys, caller-token keys and broker "
                               "passwords as environment lines")
    broker = sub.add_parser("broker", help="per-process RabbitMQ users and their permissions")
    bsub = broker.add_subparsers(dest="broker_command", required=True)
    bsub.add_parser("setup", help="create/update every process's user on the vhost")
    bsub.add_parser("remove", help="delete the users")
    p = bsub.add_parser("uri", help="the AMQP URI one process connects with")
    p.add_argument("process")

    admin = sub.add_parser("admin", help="administrator accounts for a new installation")
    asub2 = admin.add_subparsers(dest="admin_command", required=True)
    p = asub2.add_parser("create", help="create an administrator with password and TOTP")
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--reason", default="administrator pertama instalasi SIMASN")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")

    seed = sub.add_parser("seed", help="create demo data")
    ssub = seed.add_subparsers(dest="seed_command", required=True)
    p = ssub.add_parser("demo", help="a demo province: administrator, auditor, fasilitators "
                                     "of a few OPDs, pegawai with realistic names and NIPs")
    p.add_argument("--seed", type=int, default=2026, help="same seed, same people (2026)")
    p.add_argument("--pegawai", type=int, default=300, help="how many pegawai (300)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)

    pki_parser = sub.add_parser("pki", help="development key store for the signing service")
    psub = pki_parser.add_subparsers(dest="pki_command", required=True)
    p = psub.add_parser("init", help="root CA, signer certificates, seal and TSA (development)")
    p.add_argument("--dir", help="key store directory (default SIGNING_KEYSTORE_DIR)")
    p.add_argument("--signer", action="append", metavar="ACCOUNT=NAME|JABATAN",
                   help="an official who signs, e.g. 'admin.bkd=Dr. Budi|Kepala BKD'")
    p.add_argument("--force", action="store_true", help="replace an existing key store")
    p.add_argument("--if-missing", action="store_true", help="do nothing if one exists")
    p = psub.add_parser("add-signer", help="a certificate for one more official (development)")
    p.add_argument("--dir", help="key store directory (default SIGNING_KEYSTORE_DIR)")
    p.add_argument("--account", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--jabatan", required=True)

    p = sub.add_parser("health", help="health of every service")
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--wait", type=float, default=0)

    audit = sub.add_parser("audit", help="verify, replay and inspect the event logs")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    p = asub.add_parser("verify")
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    _add_trust_roots(p)
    p = asub.add_parser("prove", help="an inclusion proof of one event against the latest "
                                      "signed checkpoint (JSON on stdout)")
    p.add_argument("schema", choices=SERVICES, help="the service whose log holds the event")
    p.add_argument("position", type=int, help="the event's position in that log")
    _add_trust_roots(p)
    p = asub.add_parser("verify-proof", help="check a proof from `audit prove` (no database)")
    p.add_argument("file")
    _add_trust_roots(p)
    p = asub.add_parser("replay")
    p.add_argument("--stream", required=True)
    p.add_argument("--as-of", required=True)
    p.add_argument("--service", action="append", choices=SERVICES)
    p = asub.add_parser("timeline")
    p.add_argument("--stream", required=True)
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--json", action="store_true")

    rec = sub.add_parser("records", help="the employees projection against the records log")
    rsub = rec.add_subparsers(dest="records_command", required=True)
    rsub.add_parser("check", help="replay every employee and compare with the stored row")
    p = rsub.add_parser("rebuild", help="re-derive stored rows from the log")
    p.add_argument("--nip", action="append", help="only this NIP (repeatable)")

    dl = sub.add_parser("deadletters", help="events their consumers could not handle")
    dsub = dl.add_subparsers(dest="dl_command", required=True)
    p = dsub.add_parser("list")
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--all", action="store_true", help="include retried and discarded")
    p.add_argument("--json", action="store_true")
    p = dsub.add_parser("retry")
    p.add_argument("id", help="SERVICE:ID as listed")
    p = dsub.add_parser("discard")
    p.add_argument("id", help="SERVICE:ID as listed")
    p.add_argument("--reason", required=True)
    return parser


COMMANDS = {
    "migrate": cmd_migrate,
    "relay": cmd_relay,
    "health": cmd_health,
    "keys": cmd_keys,
    "broker": cmd_broker,
    "admin": cmd_admin,
    "seed": cmd_seed,
    "audit": cmd_audit,
    "records": cmd_records,
    "deadletters": cmd_deadletters,
    "pki": cmd_pki,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keys":
        return cmd_keys(args, None)
    try:
        # what `make up` wrote (.run/secrets.env): nobody has to source it by hand
        load_default_env_file()
        if args.command == "pki":
            return cmd_pki(args, None)
        config = from_environment()
        configure_logging("cli", config.log_level)
        return COMMANDS[args.command](args, config)
    except SimasnError as exc:
        print(f"error: {exc.message}" + (f" (field: {exc.field})" if exc.field else ""),
              file=sys.stderr)
        return 1
    except psycopg2.OperationalError as exc:
        print(f"error: cannot reach the database: {str(exc).strip()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
