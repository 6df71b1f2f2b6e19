"""The web application's files as the gateway serves them (services/gateway/web.py): one page for
every application address, assets with an ETag, the content security policy on every answer,
nothing outside web/ reachable, and the settings the page reads before anyone logs in."""

from pathlib import Path

import pytest

from services.gateway.web import CONTENT_SECURITY_POLICY, WebFiles
from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent / "web"


@pytest.fixture
def gateway(start_gateway):
    client, _, _ = start_gateway(WEB_LOCK_STAFF_SECONDS=600)
    return client


def test_every_application_address_answers_the_one_page_with_its_policy(gateway):
    for path in ("/", "/verifikasi/3f1c2a9e-0000-4000-8000-000000000000"):
        answer = gateway.call("GET", path)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"].startswith("text/html")
        assert answer.body == (ROOT / "index.html").read_text()
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in \
            CONTENT_SECURITY_POLICY
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-cache"


def test_assets_have_their_type_and_an_etag_that_saves_the_download(gateway):
    answer = gateway.call("GET", "/assets/js/app.js")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    etag = {k.lower(): v for k, v in answer.headers.items()}["etag"]
    again = gateway.call("GET", "/assets/js/app.js", headers={"If-None-Match": etag})
    assert again.status == 304 and not again.body
    css = gateway.call("GET", "/assets/app.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/assets/../pyproject.toml", "/assets/%2e%2e/pyproject.toml",
                                  "/assets/js/../../config.yaml", "/assets/vendor/README.md",
                                  "/assets/.hidden", "/assets/nothing.js", "/assets/js"])
def test_nothing_outside_the_application_s_files_is_served(gateway, path):
    answer = gateway.call("GET", path)
    assert answer.status == 404, (path, answer.status)
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_the_page_reads_its_lock_and_poll_settings_without_login(gateway):
    answer = gateway.call("GET", "/api/web/config")
    assert answer.status == 200
    assert answer.body["idle_lock_seconds"] == {"staff": 600, "pegawai": 1800}
    assert answer.body["poll_seconds"] == 30 and answer.body["max_upload_bytes"] > 0


def test_bad_settings_stop_the_gateway_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as bad:
        WebFiles.from_config({"WEB_LOCK_STAFF_SECONDS": 5})
    assert bad.value.field == "WEB_LOCK_STAFF_SECONDS"
    with pytest.raises(ConfigError) as missing:
        WebFiles.from_config({"WEB_ROOT": str(tmp_path)})
    assert missing.value.field == "WEB_ROOT"
