"""The sync service's composition point: `SyncSettings`, built in `setup()` from validated config
(never at import time): the box that seals region keys and the protocol's limits and clocks."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from functools import partial

from cryptography.fernet import Fernet, InvalidToken
from kombu import Queue
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer, QueueConsumer

from shared.brokerauth import REGION_BATCH_QUEUE, REGION_EXCHANGE_PREFIX
from shared.errors import ConfigError


class SyncConfigSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    #: Fernet key sealing the regions' HMAC secrets at rest (`simasn keys` makes one)
    SYNC_KEY_SEAL_KEY = fields.String(required=True)
    #: a signed request is taken only within this many seconds of our clock, either side
    SYNC_REPLAY_WINDOW_SECONDS = fields.Integer(load_default=300,
                                                validate=validate.Range(30, 3600))
    SYNC_MAX_BATCH_EVENTS = fields.Integer(load_default=1000, validate=validate.Range(1, 10000))
    SYNC_MAX_BATCH_BYTES = fields.Integer(load_default=2 << 20,
                                          validate=validate.Range(1024, 8 << 20))
    #: a gap still open this long is reported (status, event, every batch answer lists it)
    SYNC_GAP_REPORT_SECONDS = fields.Integer(load_default=300, validate=validate.Range(1, 86400))
    #: a region that sent nothing for this long raises the silence alarm
    SYNC_SILENCE_SECONDS = fields.Integer(load_default=86400,
                                          validate=validate.Range(1, 90 * 86400))
    #: after a transient failure of records: first wait, doubling, up to the cap
    SYNC_RETRY_SECONDS = fields.Float(load_default=5.0, validate=validate.Range(0.01, 3600))
    SYNC_RETRY_MAX_SECONDS = fields.Float(load_default=300.0, validate=validate.Range(0.01, 86400))
    #: events one applier run takes for one region before it lets go of the region
    SYNC_APPLY_BATCH = fields.Integer(load_default=500, validate=validate.Range(1, 10000))
    #: a region's applier lease: how long a replica that died (SIGKILL, OOM) keeps the region
    #: from a restarted one; renewed at every event, so longer than one records call
    SYNC_APPLY_LEASE_SECONDS = fields.Integer(load_default=60, validate=validate.Range(2, 3600))
    #: a region's full snapshot: the most bytes taken (the gateway's own cap is 1 GiB)
    SYNC_MAX_SNAPSHOT_BYTES = fields.Integer(load_default=512 << 20,
                                             validate=validate.Range(1024, 1 << 30))
    #: rows the loader COPYs and commits at once (a crash resumes after the last chunk)
    SYNC_SNAPSHOT_CHUNK_ROWS = fields.Integer(load_default=5000,
                                              validate=validate.Range(10, 100_000))
    #: the loader's and the reconciliation's lease on their row: renewed at every chunk
    SYNC_SNAPSHOT_LEASE_SECONDS = fields.Integer(load_default=300,
                                                 validate=validate.Range(2, 3600))
    #: employees one records.region_roster call returns to the reconciliation
    SYNC_ROSTER_PAGE = fields.Integer(load_default=10_000, validate=validate.Range(10, 20_000))

    @validates("SYNC_KEY_SEAL_KEY")
    def _fernet(self, value, **kwargs):
        try:
            Fernet(value.encode())
        except (ValueError, TypeError):
            raise ValidationError("must be a Fernet key (32 url-safe base64-encoded bytes); "
                                  "make one with `simasn keys`") from None


class KeyBox:
    """Seals and opens region secrets (Fernet: AES-128-CBC + HMAC-SHA256), like identity's
    TOTP secrets: the secret must be read back to check an HMAC, so it is encrypted, not
    hashed."""

    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The secret, or None when this key cannot open it (a wrong SYNC_KEY_SEAL_KEY)."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None


@dataclass(frozen=True)
class Settings:
    box: KeyBox
    replay_window: int
    max_events: int
    max_bytes: int
    gap_report_seconds: int
    silence_seconds: int
    retry_seconds: float
    retry_max_seconds: float
    apply_batch: int
    #: who this container is, as the holder of a region's applier lease
    runner: str
    lease_seconds: int = 60
    max_snapshot_bytes: int = 512 << 20
    snapshot_chunk_rows: int = 5000
    snapshot_lease_seconds: int = 300
    roster_page: int = 10_000


def build_settings(config: dict, runner: str = "sync") -> Settings:
    """Validate the SYNC_* keys; a bad or missing key fails naming it."""
    try:
        c = SyncConfigSchema().load(config)
    except ValidationError as exc:
        key = sorted(exc.messages)[0]
        raise ConfigError(f"config key {key}: {exc.messages[key][0]}", field=key) from None
    return Settings(KeyBox(c["SYNC_KEY_SEAL_KEY"]), c["SYNC_REPLAY_WINDOW_SECONDS"],
                    c["SYNC_MAX_BATCH_EVENTS"], c["SYNC_MAX_BATCH_BYTES"],
                    c["SYNC_GAP_REPORT_SECONDS"], c["SYNC_SILENCE_SECONDS"],
                    c["SYNC_RETRY_SECONDS"], c["SYNC_RETRY_MAX_SECONDS"],
                    c["SYNC_APPLY_BATCH"], runner, c["SYNC_APPLY_LEASE_SECONDS"],
                    max_snapshot_bytes=c["SYNC_MAX_SNAPSHOT_BYTES"],
                    snapshot_chunk_rows=c["SYNC_SNAPSHOT_CHUNK_ROWS"],
                    snapshot_lease_seconds=c["SYNC_SNAPSHOT_LEASE_SECONDS"],
                    roster_page=c["SYNC_ROSTER_PAGE"])


class SyncSettings(DependencyProvider):
    """`settings = SyncSettings()`: the validated settings, read once at start."""

    def setup(self):
        self.settings = build_settings(
            self.container.config, f"{self.container.service_name}-{uuid.uuid4().hex[:8]}")

    def get_dependency(self, worker_ctx):
        return self.settings


class RegionQueueConsumer(QueueConsumer):
    """Nameko's queue consumer for the regions' batches, which never deserialises a body: a
    region's bytes are checked as bytes (kombu's `on_message` skips decoding, so neither a
    body that is not JSON nor a hostile content type such as pickle reaches a decoder)."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_message = partial(self.handle_message, provider, None)
        return consumers


class RegionBatchConsumer(Consumer):
    """Nameko's `consume` on the regions' batch queue, handing the handler what checking a
    batch needs and Nameko would drop: the raw body bytes as published (the HMAC is over them),
    the message's headers, the exchange it was published on (only the region's broker user can
    publish there) and whether it is a redelivery. Acked when the handler returns; requeued
    when it raises (a transient failure: the database gone); refusals are recorded and return."""

    queue_consumer = RegionQueueConsumer()

    def handle_message(self, body, message):
        exchange = message.delivery_info.get("exchange") or ""
        region = exchange[len(REGION_EXCHANGE_PREFIX):] \
            if exchange.startswith(REGION_EXCHANGE_PREFIX) else ""
        delivered = {"region": region,
                     "headers": {str(k): str(v) for k, v in (message.headers or {}).items()},
                     "body_base64": base64.b64encode(message.body or b"").decode(),
                     "redelivered": bool(message.delivery_info.get("redelivered"))}
        handle_result = partial(self.handle_result, message)
        try:
            self.container.spawn_worker(self, (delivered,), {}, context_data={},
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)


#: `@region_batches`: the entrypoint of the AMQP push (docs/design/sync.md)
region_batches = RegionBatchConsumer.decorator(
    Queue(REGION_BATCH_QUEUE, durable=True, no_declare=False), requeue_on_error=True)
