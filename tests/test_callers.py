"""Caller tokens (shared/callers.py): who may vouch for whom, and what a service believes."""

import time

import jwt
import pytest

from shared import callers
from shared.errors import ConfigError

PEGAWAI = {"actor_id": "199001012015031001", "actor_role": "pegawai", "actor_roles": ["pegawai"],
           "actor_scope": [], "opd_id": "dinkes", "session_id": "s-1",
           "client_address": "10.0.0.7"}
SYSTEM = {"actor_id": "service:signing", "actor_role": "system", "actor_roles": ["system"]}


@pytest.fixture
def keys():
    return callers.dev_keys()


def test_the_gateway_vouches_for_people_and_services_for_themselves(keys):
    gateway = callers.from_config(keys, callers.GATEWAY)
    service = callers.from_config(keys, callers.SERVICE)
    for minted_by, context in ((gateway, PEGAWAI), (service, SYSTEM)):
        signed = minted_by.sign_context({**context, "correlation_id": "c-1"})
        seen = service.verified(signed)
        assert {k: seen[k] for k in context} == context and seen["correlation_id"] == "c-1"
    assert gateway.mint(SYSTEM) is None  # the internet-facing gateway cannot claim `system`
    assert service.mint(PEGAWAI) is None  # a backend forwards the gateway's token, never mints
    with pytest.raises(callers.CallerUnverified):
        service.sign_context(PEGAWAI)


def test_claims_in_headers_without_a_valid_token_are_refused(keys):
    service = callers.from_config(keys, callers.SERVICE)
    other = callers.from_config(callers.dev_keys(), callers.GATEWAY)  # someone else's key
    forged = [
        dict(PEGAWAI),
        {**PEGAWAI, "caller_token": "not-a-token"},
        {**PEGAWAI, "caller_token": other.mint(PEGAWAI)},
        {**PEGAWAI, "caller_token": jwt.encode({"iss": "gateway", "iat": 1, "exp": 2**40,
                                                 "ctx": PEGAWAI}, "x" * 32, algorithm="HS256")},
    ]
    for context in forged:
        with pytest.raises(callers.CallerUnverified) as refused:
            service.verified(context)
        assert refused.value.code == "caller_unverified" and refused.value.http_status == 401


def test_the_token_not_the_headers_says_who_calls(keys):
    gateway = callers.from_config(keys, callers.GATEWAY)
    signed = gateway.sign_context(PEGAWAI)
    tampered = {**signed, "actor_roles": ["administrator"], "actor_scope": ["dinkes"],
                "client_address": "1.2.3.4"}
    seen = callers.from_config(keys, callers.SERVICE).verified(tampered)
    assert seen["actor_roles"] == ["pegawai"] and seen["actor_scope"] == []
    assert seen["client_address"] == "10.0.0.7"


def test_an_expired_token_is_refused_and_no_actor_is_a_plain_call(keys, monkeypatch):
    gateway = callers.from_config({**keys, "CALLER_TOKEN_SECONDS": 10}, callers.GATEWAY)
    signed = gateway.sign_context(PEGAWAI)
    service = callers.from_config(keys, callers.SERVICE)
    later = time.time() + 10 + callers.LEEWAY + 1
    monkeypatch.setattr(callers.time, "time", lambda: later)
    with pytest.raises(callers.CallerUnverified):
        service.verified(signed)
    assert service.verified({"correlation_id": "c", "opd_id": "dinkes"}) == {
        "correlation_id": "c"}
    with pytest.raises(callers.CallerUnverified):  # the address failed logins are counted by
        service.verified({"correlation_id": "c", "client_address": "1.2.3.4"})


def test_missing_or_bad_keys_fail_at_start_naming_the_key(keys):
    with pytest.raises(ConfigError) as missing:
        callers.from_config({**keys, "CALLER_SERVICE_PUBLIC_KEY": ""}, callers.SERVICE)
    assert missing.value.field == "CALLER_SERVICE_PUBLIC_KEY"
    with pytest.raises(ConfigError) as bad:
        callers.from_config({**keys, "CALLER_GATEWAY_KEY": "short"}, callers.GATEWAY)
    assert bad.value.field == "CALLER_GATEWAY_KEY"


def test_a_token_minted_again_within_the_second_is_the_same_and_a_new_second_mints_anew(
        keys, monkeypatch):
    """Minting is memoised per second (the same claims sign to the same bytes anyway): the
    reused token is exactly what signing again gives, and another actor or second is not
    served from the memo."""
    gateway = callers.from_config(keys, callers.GATEWAY)
    service = callers.from_config(keys, callers.SERVICE)
    second = int(time.time()) - 2
    clock = [second + 0.2]
    monkeypatch.setattr(callers.time, "time", lambda: clock[0])
    first = gateway.mint(PEGAWAI)
    assert gateway.mint(dict(PEGAWAI)) == first
    fresh = jwt.encode({"iss": "gateway", "iat": second, "exp": second + gateway.ttl,
                        "ctx": PEGAWAI}, gateway.private, algorithm="EdDSA")
    assert first == fresh  # what the memo hands out is what signing gives
    other = gateway.mint({**PEGAWAI, "actor_id": "199001012015031002"})
    assert other != first
    assert service.verified({"caller_token": other})["actor_id"] == "199001012015031002"
    clock[0] += 1
    later = gateway.mint(PEGAWAI)
    assert later != first
    assert jwt.decode(later, options={"verify_signature": False})["iat"] == second + 1


def test_a_verified_token_is_remembered_for_a_while_not_for_the_life_of_the_process(
        keys, monkeypatch):
    """The hops of one request hit the memo; a token's memo is dropped VERIFIED_SECONDS after
    it was verified, whoever comes next, so what a busy process keeps is bounded by the rate of
    new tokens (the soak's slow RSS rise came from the 4096-token LRU filling for an hour)."""
    gateway = callers.from_config(keys, callers.GATEWAY)
    service = callers.from_config(keys, callers.SERVICE)
    clock = [1000.0]
    monkeypatch.setattr(callers.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(callers, "_VERIFIED", callers._Recent(callers.VERIFIED_SECONDS, 8))
    checked = []
    real = callers._checked
    monkeypatch.setattr(callers, "_checked", lambda *a: checked.append(a[0]) or real(*a))
    tokens = [gateway.mint({**PEGAWAI, "actor_id": f"19900101201503100{n}"}) for n in range(3)]
    for _ in range(3):  # three hops of each request: one check each
        for token in tokens:
            assert service.verified({"caller_token": token})["opd_id"] == "dinkes"
    assert checked == tokens and len(callers._VERIFIED) == 3
    clock[0] += callers.VERIFIED_SECONDS + 1
    fresh = gateway.mint({**PEGAWAI, "actor_id": "199001012015031009"})
    service.verified({"caller_token": fresh})
    assert len(callers._VERIFIED) == 1  # the three old ones went when the new one came
    service.verified({"caller_token": tokens[0]})  # still valid: checked again, not refused
    assert checked[-1] == tokens[0] and len(checked) == 5
    # never more than its size, however fast new tokens come
    for n in range(20):
        service.verified({"caller_token": gateway.mint({**PEGAWAI, "session_id": f"s-{n}"})})
    assert len(callers._VERIFIED) == 8


def test_a_refused_token_is_not_remembered(keys, monkeypatch):
    service = callers.from_config(keys, callers.SERVICE)
    other = callers.from_config(callers.dev_keys(), callers.GATEWAY)
    monkeypatch.setattr(callers, "_VERIFIED", callers._Recent(callers.VERIFIED_SECONDS, 8))
    forged = other.mint(PEGAWAI)
    for _ in range(2):
        with pytest.raises(callers.CallerUnverified):
            service.verified({"caller_token": forged})
    assert len(callers._VERIFIED) == 0
