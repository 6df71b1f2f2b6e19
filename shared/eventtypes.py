"""Versioned event types. Each service's `events.py` registers its event types here: a marshmallow
schema per type and version, and upcasters that lift an old stored payload to the current shape.
Stored events are never rewritten; old shapes are upcast on read.

A service may also register a redactor for an event type that can carry confidential data: the
outbox relay publishes what the redactor returns, so consumers on the bus never receive the
confidential part. The full payload stays in the log, where only the owning service and the
audit role can read it.

A registry also declares the streams its log holds, as patterns (`employee:<NIP>`: a prefix,
a colon and a placeholder; or one fixed name such as `checkpoints`). The event store refuses an
append to a stream no pattern matches, so the declarations are what the log really holds: the
guides cite them (tests/test_docs_names.py checks every stream a guide names against them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from marshmallow import RAISE, Schema, ValidationError, fields
from marshmallow.utils import missing

from shared.errors import EventPayloadInvalid, UnknownEventType, UnknownStream

Upcaster = Callable[[dict], dict]
#: payload -> the payload consumers may see; returns the payload itself when nothing is withheld
Redactor = Callable[[dict], dict]


@dataclass
class EventType:
    name: str
    version: int
    schema: type[Schema]
    upcasters: dict[int, Upcaster] = field(default_factory=dict)
    redactor: Redactor | None = None

    @cached_property
    def _validator(self) -> Schema:
        # building a marshmallow schema costs far more than loading with one: build it once
        return self.schema()

    @cached_property
    def _quick_check(self) -> Callable[[dict], bool] | None:
        return quick_check(self._validator)

    def validate(self, payload: dict) -> None:
        if not isinstance(payload, dict):
            raise EventPayloadInvalid(
                f"{self.name}: payload must be an object", field="payload"
            )
        quick = self._quick_check
        if quick is not None and quick(payload):
            return
        try:
            self._validator.load(payload)
        except ValidationError as exc:
            err = EventPayloadInvalid.from_marshmallow(exc.messages, prefix="payload")
            err.message = f"{self.name} v{self.version}: {err.message}"
            raise err from None

    def upcast(self, payload: dict, from_version: int) -> dict:
        """Lift a payload stored at `from_version` to the current version, one step at a time."""
        version = from_version
        while version < self.version:
            step = self.upcasters.get(version)
            if step is None:
                raise UnknownEventType(
                    f"{self.name}: no upcaster from v{version} to v{version + 1}",
                    field="schema_version",
                )
            payload = step(payload)
            version += 1
        return payload


_STR, _INT, _BOOL, _FIELD = range(4)


def quick_check(schema: Schema) -> Callable[[dict], bool] | None:
    """A check that answers True only for payloads `schema.load` accepts, in a fraction of its
    time (marshmallow's load was most of an append's client CPU: docs/design/event-log.md,
    Performance). False means "not sure": the caller then asks marshmallow, which gives the
    verdict and the error messages. Plain String, Integer and Boolean fields are checked
    inline (the same type tests marshmallow makes, then the field's own validators); every
    other field by its own `deserialize`. None — always ask marshmallow — for a schema with
    hooks (pre/post_load, validates, validates_schema) or `many`."""
    if schema.many or any(schema._hooks.values()):
        return None
    checks = []
    for attr_name, field_obj in schema.load_fields.items():
        key = field_obj.data_key if field_obj.data_key is not None else attr_name
        kind = _FIELD
        if not field_obj.pre_load and not field_obj.post_load:
            if type(field_obj) is fields.String:
                kind = _STR
            elif type(field_obj) is fields.Integer:
                kind = _INT
            elif type(field_obj) is fields.Boolean and (
                    not field_obj.truthy or (True in field_obj.truthy
                                             and False in field_obj.falsy)):
                kind = _BOOL
        checks.append((key, field_obj.required, field_obj.allow_none, kind,
                       tuple(field_obj.validators), field_obj))
    known = frozenset(key for key, *_ in checks)
    refuse_unknown = schema.unknown == RAISE

    def check(payload: dict) -> bool:
        if refuse_unknown and not known.issuperset(payload):
            return False
        get = payload.get
        try:
            for key, required, allow_none, kind, validators, field_obj in checks:
                value = get(key, missing)
                if value is missing:
                    if required:
                        return False
                    continue
                if value is None:
                    if allow_none:
                        continue
                    return False
                if kind == _STR:
                    if type(value) is not str:
                        return False
                elif kind == _INT:
                    if type(value) is not int:
                        return False
                elif kind == _BOOL:
                    if value is not True and value is not False:
                        return False
                else:
                    field_obj.deserialize(value, key, payload)
                    continue  # deserialize ran the validators
                for validator in validators:
                    if validator(value) is False:
                        return False
        except Exception:  # noqa: BLE001 - not sure: marshmallow decides and names the error
            return False
        return True

    return check


class EventRegistry:
    """The event types one service log may hold."""

    def __init__(self, service: str, streams: Sequence[str] = ()):
        self.service = service
        #: the stream patterns this log holds; empty: any stream (scratch logs in tests)
        self.streams = tuple(streams)
        self._types: dict[str, EventType] = {}

    def stream_pattern(self, stream_id: str) -> str | None:
        """The declared pattern `stream_id` is an instance of (`employee:<NIP>` for
        `employee:198503152010012003`), or None."""
        for pattern in self.streams:
            prefix, colon, _ = pattern.partition(":")
            if colon and stream_id.startswith(prefix + ":") and len(stream_id) > len(prefix) + 1:
                return pattern
            if not colon and stream_id == pattern:
                return pattern
        return None

    def check_stream(self, stream_id: str) -> None:
        """Refuse a stream this log does not declare (a programming error, named)."""
        if self.streams and self.stream_pattern(stream_id) is None:
            raise UnknownStream(
                f"stream {stream_id[:80]!r} is none of the {self.service} log's streams "
                f"({', '.join(self.streams)}); declare it in services/{self.service}/events.py",
                field="stream_id")

    def event(self, name: str, version: int = 1):
        """Class decorator registering a marshmallow schema as event type `name`, version N."""

        def register(schema_cls: type[Schema]) -> type[Schema]:
            existing = self._types.get(name)
            upcasters = existing.upcasters if existing else {}
            if existing and existing.version >= version:
                return schema_cls
            self._types[name] = EventType(name, version, schema_cls, upcasters,
                                          existing.redactor if existing else None)
            return schema_cls

        return register

    def upcaster(self, name: str, from_version: int):
        def register(fn: Upcaster) -> Upcaster:
            self.get(name).upcasters[from_version] = fn
            return fn

        return register

    def redactor(self, name: str):
        """Register `fn(payload) -> payload` as what the bus may carry of event type `name`."""

        def register(fn: Redactor) -> Redactor:
            self.get(name).redactor = fn
            return fn

        return register

    def public_payload(self, name: str, payload: dict) -> tuple[dict, bool]:
        """The payload as consumers on the bus may see it, and whether anything was withheld."""
        event_type = self._types.get(name)
        if event_type is None or event_type.redactor is None:
            return payload, False
        public = event_type.redactor(payload)
        return public, public != payload

    def get(self, name: str) -> EventType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(
                f"event type {name!r} is not registered for the {self.service} log",
                field="event_type",
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)
