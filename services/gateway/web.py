"""The web application's files, served by the gateway from the same origin as the API (issue 16).

The browser application (`web/` at the repository root, or WEB_ROOT) is plain files: one page
(`index.html`) that every application address answers, and its assets under `/assets/`. The
gateway serves them itself, so the application runs where the internet may be closed and needs
no CORS. Every answer carries the content security policy the application is written for: only
our own scripts and styles, no inline code, no frame around it, nothing fetched from elsewhere.
Tokens travel in the Authorization header and never in a cookie, so there is nothing for a
cross-site request to ride on (docs/design/web.md)."""

from __future__ import annotations

import hashlib
import mimetypes
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import Schema, fields, validate
from nameko.extensions import DependencyProvider
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from shared.errors import ConfigError, NotFound

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "web"

#: the policy every page and asset is answered with: the application's own origin only
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-src 'self' blob:",
    "manifest-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
ASSET_NAME = re.compile(r"[A-Za-z0-9._/-]{1,200}")
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
         ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json",
         ".html": "text/html", ".woff2": "font/woff2", ".txt": "text/plain",
         ".webmanifest": "application/manifest+json"}


class WebConfigSchema(Schema):
    """What the browser application needs to know before anyone logs in."""

    idle_lock_seconds = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                    metadata={"description": "detik diam sebelum layar terkunci, "
                                                             "per peran (staf dan pegawai)"})
    poll_seconds = fields.Integer(metadata={"description": "selang pemeriksaan notifikasi"})
    max_upload_bytes = fields.Integer()


class _Settings(Schema):
    WEB_ROOT = fields.String(load_default=None, allow_none=True)
    WEB_LOCK_STAFF_SECONDS = fields.Integer(load_default=900, validate=validate.Range(60, 86400))
    WEB_LOCK_PEGAWAI_SECONDS = fields.Integer(load_default=1800,
                                              validate=validate.Range(60, 86400))
    WEB_POLL_SECONDS = fields.Integer(load_default=30, validate=validate.Range(5, 3600))


@dataclass
class WebFiles:
    """The application's files under `root`, each answered with an ETag so a browser revalidates
    instead of downloading again, and with the security headers."""

    root: Path
    lock_staff: int = 900
    lock_pegawai: int = 1800
    poll: int = 30
    _etags: dict[str, tuple[float, str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict) -> WebFiles:
        raw = {k: config[k] for k in _Settings().fields if config.get(k) not in (None, "")}
        errors = _Settings().validate(raw)
        if errors:
            key = sorted(errors)[0]
            raise ConfigError(f"config key {key}: {errors[key][0]}", field=key)
        settings = _Settings().load(raw)
        root = Path(settings["WEB_ROOT"]) if settings["WEB_ROOT"] else DEFAULT_ROOT
        if not (root / "index.html").is_file():
            raise ConfigError(f"config key WEB_ROOT: {root} holds no index.html (the web "
                              "application's files)", field="WEB_ROOT")
        return cls(root.resolve(), settings["WEB_LOCK_STAFF_SECONDS"],
                   settings["WEB_LOCK_PEGAWAI_SECONDS"], settings["WEB_POLL_SECONDS"])

    def config(self, max_upload_bytes: int) -> dict:
        return {"idle_lock_seconds": {"staff": self.lock_staff, "pegawai": self.lock_pegawai},
                "poll_seconds": self.poll, "max_upload_bytes": max_upload_bytes}

    def page(self, request) -> Response:
        """The application's one page: every application address answers it."""
        return self._answer(request, self.root / "index.html", "no-cache")

    def verification_page(self, request, document_id: str) -> Response:
        """The page a QR code opens, for a document id as the signing service makes them."""
        try:
            uuid.UUID(document_id)
        except ValueError:
            raise NotFound("dokumen tidak ditemukan", field="document_id") from None
        return self.page(request)

    def asset(self, request, path: str) -> Response:
        """A file under the root, named as our files are (ASCII letters, digits, `._-/`, at
        most 200 characters): any other name is no file of ours, and never reaches the file
        system (a name too long for it raised there, a 500)."""
        joined = safe_join(str(self.root), path) if ASSET_NAME.fullmatch(path) else None
        if joined is None or path.startswith(".") or "/." in path or path.endswith(".md"):
            raise NotFound("berkas tidak ditemukan", field="path")
        target = Path(joined)
        if not target.is_file():
            raise NotFound("berkas tidak ditemukan", field="path")
        return self._answer(request, target, "no-cache")

    def _answer(self, request, target: Path, cache: str) -> Response:
        etag = self._etag(target)
        if etag in request.if_none_match:
            response = Response(status=304)
        else:
            mimetype = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or \
                "application/octet-stream"
            response = Response(target.read_bytes(), mimetype=mimetype)
        response.set_etag(etag)
        response.headers["Cache-Control"] = cache
        response.headers.update(SECURITY_HEADERS)
        return response

    def _etag(self, target: Path) -> str:
        key = str(target)
        modified = target.stat().st_mtime
        known = self._etags.get(key)
        if known is None or known[0] != modified:
            known = (modified, hashlib.sha256(target.read_bytes()).hexdigest()[:32])
            self._etags[key] = known
        return known[1]


class WebApplication(DependencyProvider):
    """The web application's files and settings, checked at start (a missing index.html or a
    bad WEB_* key stops the gateway with the key named)."""

    def setup(self):
        self.files = WebFiles.from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.files
