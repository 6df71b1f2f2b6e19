"""The quick payload check (shared/eventtypes.py `quick_check`) may only ever say yes where
marshmallow says yes: its "no" hands the verdict to marshmallow, its "yes" skips it. Checked
against every event type every service registers, with payloads built from each field's own
constraints and then spoiled one value at a time."""

from __future__ import annotations

import importlib
import random

import pytest
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared import SERVICES
from shared.eventtypes import EventRegistry, quick_check

POOL = [None, "", "x", "198001012005011001", "2024-04-01", "2024-04-01T08:00:00+07:00",
        "c56a4180-65aa-42ec-a945-5fd21dec0538", "a@b.id", 0, 1, -5, 2**70, True, False, 1.5,
        [], ["x"], {}, {"a": 1}, "L", "\x00"]


def registries() -> list[EventRegistry]:
    found = []
    for service in SERVICES:
        try:
            module = importlib.import_module(f"services.{service}.events")
        except ModuleNotFoundError:
            continue
        found += [v for v in vars(module).values() if isinstance(v, EventRegistry)]
    return found


def candidates(schema: Schema, field_obj) -> list:
    out = list(POOL)
    for validator in field_obj.validators:
        out += list(getattr(validator, "choices", ()) or ())
    return out


def loads_ok(schema: Schema, payload: dict) -> bool:
    try:
        schema.load(payload)
    except ValidationError:
        return False
    return True


def check_schema(schema: Schema, rounds: int, rng: random.Random) -> tuple[int, int]:
    quick = quick_check(schema)
    if quick is None:
        return 0, 0
    said_yes = agreed_valid = 0
    names = {(f.data_key or name): f for name, f in schema.load_fields.items()}
    for _ in range(rounds):
        payload = {}
        for key, field_obj in names.items():
            if rng.random() < 0.1:
                continue  # missing
            payload[key] = rng.choice(candidates(schema, field_obj))
        if rng.random() < 0.05:
            payload["not_a_field"] = "x"
        yes, valid = quick(payload), loads_ok(schema, payload)
        assert not yes or valid, f"quick check accepted what marshmallow refuses: {payload}"
        said_yes += yes
        agreed_valid += valid
    return said_yes, agreed_valid


def test_quick_check_never_accepts_what_marshmallow_refuses_for_every_event_type():
    rng = random.Random(19)
    types = [t for registry in registries() for t in registry._types.values()]
    assert types, "no service registered event types"
    for event_type in types:
        check_schema(event_type._validator, 300, rng)


class Sample(Schema):
    nip = fields.String(required=True, validate=validate.Regexp(r"^\d{18}$"))
    golongan = fields.String(required=True, validate=validate.OneOf(["III/a", "III/b"]))
    masa_kerja = fields.Integer(required=True, validate=validate.Range(min=0, max=40))
    aktif = fields.Boolean(required=True)
    gelar = fields.String(allow_none=True)
    tmt = fields.Date(required=True)
    tags = fields.List(fields.String(), load_default=list)


VALID = {"nip": "198001012005011001", "golongan": "III/a", "masa_kerja": 12, "aktif": True,
         "gelar": None, "tmt": "2024-04-01", "tags": ["a"]}


@pytest.mark.parametrize("change", [
    {}, {"gelar": "S.Kom."}, {"tags": []},
])
def test_valid_payloads_take_the_quick_path(change):
    quick = quick_check(Sample())
    assert quick({**VALID, **change})


@pytest.mark.parametrize("change", [
    {"nip": "123"}, {"golongan": "IV/e"}, {"masa_kerja": 41}, {"masa_kerja": True},
    {"masa_kerja": "12"}, {"aktif": "yes"}, {"nip": None}, {"tmt": "01-04-2024"},
    {"tags": [1]}, {"extra": 1}, {"masa_kerja": 1.0},
])
def test_anything_doubtful_goes_to_marshmallow(change):
    schema = Sample()
    assert quick_check(schema)({**VALID, **change}) is False


def test_missing_required_field_goes_to_marshmallow():
    payload = dict(VALID)
    del payload["nip"]
    assert quick_check(Sample())(payload) is False


def test_schemas_with_hooks_always_use_marshmallow():
    class Hooked(Schema):
        a = fields.Integer()

        @validates_schema
        def odd(self, data, **kwargs):
            if data.get("a", 1) % 2 == 0:
                raise ValidationError("even")

    assert quick_check(Hooked()) is None


def test_the_sample_schema_agrees_on_random_payloads():
    yes, valid = check_schema(Sample(), 2000, random.Random(7))
    assert yes <= valid
