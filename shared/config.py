"""Configuration from the environment and `config.yaml` (`${VAR:default}`), validated at start-up.

A missing or bad value fails fast with a ConfigError naming the key, before a service touches
the database or the broker."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.errors import ConfigError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def expand_env(text: str, environ: dict | None = None) -> str:
    env = os.environ if environ is None else environ

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is None:
            raise ConfigError(f"environment variable {name} is not set", field=name)
        return default

    return _ENV.sub(sub, text)


#: the environment `make up` gives its processes (scripts/stack.sh): identity keys, key store
#: directory. The CLI reads it itself (`SIMASN_ENV_FILE` names another; empty: none).
DEFAULT_ENV_FILE = ".run/secrets.env"
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def load_env_file(path, environ: dict | None = None) -> list[str]:
    """Put the KEY=VALUE lines of `path` (as `simasn keys` and `make up` write them: comments,
    `export`, quoted values) into `environ` where it lacks the key: what the shell exported
    wins. Returns the keys set. The file holds secrets: one other users may write is refused."""
    env = os.environ if environ is None else environ
    path = Path(path)
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the environment file {path}: {exc.strerror}",
                          field=str(path)) from None
    if info.st_mode & 0o022 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise ConfigError(f"{path} may be changed by other users; it holds secrets: "
                          f"chmod 600 {path} (and own it)", field=str(path))
    added = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = _ENV_LINE.match(line)
        if found is None:
            raise ConfigError(f"{path}, line {number}: not a KEY=VALUE line", field=str(path))
        key, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key not in env:
            env[key] = value
            added.append(key)
    return added


def load_default_env_file(environ: dict | None = None) -> list[str]:
    """The CLI's environment file: `SIMASN_ENV_FILE` if set (empty: none), else
    `secrets.env` in `SIMASN_RUN_DIR` (the state directory `make up` was given), else
    `.run/secrets.env` of the working directory when there is one."""
    env = os.environ if environ is None else environ
    named = env.get("SIMASN_ENV_FILE")
    if named == "":
        return []
    default = (str(Path(env["SIMASN_RUN_DIR"]) / "secrets.env") if env.get("SIMASN_RUN_DIR")
               else DEFAULT_ENV_FILE)
    if named is None and not Path(default).is_file():
        return []
    return load_env_file(named or default, env)


def load_yaml(path: str, environ: dict | None = None) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(expand_env(fh.read(), environ)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys", field=path)
    return data


class _Url(fields.String):
    def __init__(self, schemes: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.schemes = schemes

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        parts = urlsplit(text)
        if parts.scheme not in self.schemes or not parts.hostname:
            raise ValidationError(
                f"must be a URL starting with one of {', '.join(s + '://' for s in self.schemes)}"
            )
        return text


class ServiceConfigSchema(Schema):
    """The keys every SIMASN service reads. Nameko's own keys pass through untouched."""

    class Meta:
        unknown = EXCLUDE

    AMQP_URI = _Url(("amqp", "pyamqp", "amqps"), required=True)
    DATABASE_URL = _Url(("postgresql", "postgres", "postgresql+psycopg2"), required=True)
    SERVICE_DATABASE_URL = _Url(("postgresql", "postgres", "postgresql+psycopg2"),
                                load_default=None, allow_none=True)
    DB_ROLE_PER_SERVICE = fields.Boolean(load_default=True)
    DB_ROLE_PREFIX = fields.String(load_default="simasn_", validate=validate.Regexp(r"^[a-z_]+$"))
    DB_POOL_SIZE = fields.Integer(load_default=10, validate=validate.Range(min=1, max=200))
    LOG_LEVEL = fields.String(
        load_default="INFO",
        validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]),
    )
    CONSUMER_RETRY_ATTEMPTS = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))
    CONSUMER_RETRY_BASE_DELAY = fields.Float(
        load_default=0.1, validate=validate.Range(min=0, max=60)
    )


@dataclass(frozen=True)
class ServiceConfig:
    amqp_uri: str
    database_url: str
    service_database_url_override: str | None
    db_role_per_service: bool
    db_role_prefix: str
    db_pool_size: int
    log_level: str
    consumer_retry_attempts: int
    consumer_retry_base_delay: float

    def service_database_url(self, service: str) -> str:
        """The DSN a service connects with: SERVICE_DATABASE_URL when given (production: from
        the service's own secret, with its own password), else the shared URL with the
        service's least-privilege role as user (trusted local networks), unless turned off."""
        if self.service_database_url_override:
            return self.service_database_url_override
        if not self.db_role_per_service:
            return self.database_url
        return with_user(self.database_url, self.db_role_prefix + service)


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def validate_config(raw: dict) -> ServiceConfig:
    """Validate a config mapping; the first bad key is named in the error."""
    if raw.get("SERVICE_DATABASE_URL") in ("", None):
        raw = {**raw, "SERVICE_DATABASE_URL": None}
    if isinstance(raw.get("LOG_LEVEL"), str):
        raw = {**raw, "LOG_LEVEL": raw["LOG_LEVEL"].upper()}
    try:
        data = ServiceConfigSchema().load(raw)
    except ValidationError as exc:
        key = sorted(exc.messages)[0]
        reason = exc.messages[key]
        reason = reason[0] if isinstance(reason, list) else reason
        raise ConfigError(f"config key {key}: {reason}", field=key) from None
    data["SERVICE_DATABASE_URL_OVERRIDE"] = data.pop("SERVICE_DATABASE_URL")
    return ServiceConfig(**{k.lower(): v for k, v in data.items()})


def from_environment(environ: dict | None = None) -> ServiceConfig:
    """Config for CLI tools: `SIMASN_CONFIG` names a yaml file, else the SIMASN_* variables."""
    env = os.environ if environ is None else environ
    path = env.get("SIMASN_CONFIG")
    if path:
        return validate_config(load_yaml(path, env))
    raw = {
        "AMQP_URI": env.get("SIMASN_AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672/"),
        "DATABASE_URL": env.get(
            "SIMASN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/simasn"
        ),
    }
    for key in ("DB_ROLE_PER_SERVICE", "DB_ROLE_PREFIX", "DB_POOL_SIZE", "LOG_LEVEL"):
        if f"SIMASN_{key}" in env:
            raw[key] = env[f"SIMASN_{key}"]
    return validate_config(raw)
