"""The witness: every signed checkpoint written a second time, where the database's administrator
cannot rewrite it. A superuser of PostgreSQL can change an event, recompute every later hash and
the head, and delete the checkpoints from the signing log; the copies here stay, so
`simasn audit verify --witness LOCATION` still pins the rewrite to its position.

One object per checkpoint, named by its position in the signing log
(`checkpoints/000000000042.json`), written once: a name that exists is never replaced. A
`checkpoints/latest.json` pointer (the newest written) is advisory only; readers list the
objects. Three homes:

- a directory (`DirectoryWitness`): each object a read-only file, linked into place so an
  existing name is refused; put it on a volume the database host cannot write (another host's
  share, a WORM or `chattr +a` volume);
- an S3 bucket (`S3Witness`): `If-None-Match: *` refuses an existing name, and where the bucket
  has Object Lock every object carries a retention (COMPLIANCE mode by default: nobody, not even
  the account's root, deletes or replaces that version before it ends). A versioned bucket keeps
  the first version of a name even if someone with write access uploads another: readers take
  the oldest version and say how many came later;
- the public API (`HttpWitness`, read only): `/api/public/checkpoints` as the gateway serves it.

The document for each checkpoint is `document(position, recorded_at, payload)`: the
CheckpointSigned payload (heads, signed time, CMS) plus where it stands in the signing log.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import orjson

from shared.canonical import dumps
from shared.errors import ConfigError, Conflict, NotFound, StoreUnavailable

FORMAT = "simasn-checkpoint/1"
PREFIX = "checkpoints/"
LATEST = PREFIX + "latest.json"
_NAME = re.compile(r"^checkpoints/(\d{12})\.json$")


class WitnessConflict(Conflict):
    code = "witness_conflict"


def object_name(position: int) -> str:
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise ValueError(f"{position!r} is not a signing log position")
    return f"{PREFIX}{position:012d}.json"


def position_of(name: str) -> int | None:
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def document(position: int, recorded_at: str | None, payload: dict) -> bytes:
    """The bytes written for one checkpoint (canonical JSON: the same checkpoint always gives
    the same bytes, so a second write of it is recognised as the same)."""
    return dumps({"format": FORMAT, "position": position, "recorded_at": recorded_at,
                  "payload": payload}).encode("utf-8")


def parse(data: bytes) -> dict:
    """A witness document, checked for shape (not for its signature: the auditor does that)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if (not isinstance(doc, dict) or doc.get("format") != FORMAT
            or not isinstance(doc.get("position"), int)
            or not isinstance(doc.get("payload"), dict)):
        raise ValueError(f"not a {FORMAT} document")
    return doc


@dataclass(frozen=True)
class WitnessObject:
    name: str
    data: bytes
    #: versions of this name the store holds (S3 with versioning); > 1 means someone tried to
    #: replace it; `data` is the first one written
    versions: int = 1


class Witness:
    """Write-once storage of checkpoint documents."""

    location: str = ""
    #: what protects an object once written, for operators and `audit verify` ("read-only file",
    #: "object lock COMPLIANCE until ...", "if-none-match only", ...)
    protection: str = ""

    def put(self, name: str, data: bytes) -> bool:
        """Write `data` under `name` once. True if written now, False if the same bytes were
        there already; WitnessConflict if other bytes hold the name (never replaced)."""
        raise NotImplementedError

    def get(self, name: str) -> WitnessObject:
        raise NotImplementedError

    def names(self) -> list[str]:
        """The checkpoint objects held, in position order (not `latest.json`)."""
        raise NotImplementedError

    def set_latest(self, data: bytes) -> None:
        """Point `latest.json` at the newest checkpoint (advisory: replaced each time)."""
        raise NotImplementedError

    def put_checkpoint(self, position: int, recorded_at: str | None, payload: dict) -> bool:
        data = document(position, recorded_at, payload)
        written = self.put(object_name(position), data)
        self.set_latest(data)
        return written

    def positions(self) -> list[int]:
        return [p for p in (position_of(n) for n in self.names()) if p is not None]


class DirectoryWitness(Witness):
    """Checkpoint documents as read-only files under `root`."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.fspath(root)
        self.location = self.root
        self.protection = "read-only files, an existing name refused"

    def _path(self, name: str) -> str:
        if name != LATEST and position_of(name) is None:
            raise ValueError(f"{name!r} is not a witness object name")
        return os.path.join(self.root, *name.split("/"))

    def put(self, name: str, data: bytes) -> bool:
        final = self._path(name)
        try:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix=".put-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o444)
                try:
                    os.link(tmp, final)  # refuses an existing name: never replaced
                except FileExistsError:
                    return self._same(name, data)
                return True
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise StoreUnavailable(f"witness {self.root}: {exc.strerror or exc}",
                                   code="witness_unavailable") from exc

    def _same(self, name: str, data: bytes) -> bool:
        if self.get(name).data != data:
            raise WitnessConflict(f"witness {self.root} already holds other bytes as {name}",
                                  field="position")
        return False

    def get(self, name: str) -> WitnessObject:
        try:
            with open(self._path(name), "rb") as handle:
                return WitnessObject(name, handle.read())
        except FileNotFoundError:
            raise NotFound(f"witness {self.root} holds no {name}", field="position") from None
        except OSError as exc:
            raise StoreUnavailable(f"witness {self.root}: {exc.strerror or exc}",
                                   code="witness_unavailable") from exc

    def names(self) -> list[str]:
        try:
            entries = os.listdir(os.path.join(self.root, "checkpoints"))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreUnavailable(f"witness {self.root}: {exc.strerror or exc}",
                                   code="witness_unavailable") from exc
        return sorted(PREFIX + e for e in entries if position_of(PREFIX + e) is not None)

    def set_latest(self, data: bytes) -> None:
        final = self._path(LATEST)
        try:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix=".latest-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        except OSError as exc:
            raise StoreUnavailable(f"witness {self.root}: {exc.strerror or exc}",
                                   code="witness_unavailable") from exc


_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class S3Witness(Witness):
    """Checkpoint documents in an S3 bucket, under `prefix`; with Object Lock where the bucket
    has it (`retention_days` in `lock_mode`), else write-once by `If-None-Match` alone."""

    def __init__(self, bucket: str, prefix: str = "", client=None, *, endpoint_url=None,
                 retention_days: float = 3650, lock_mode: str = "COMPLIANCE",
                 create_bucket: bool = True, **client_kwargs):
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, **client_kwargs)
        if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigError("the lock mode is COMPLIANCE or GOVERNANCE", field="lock_mode")
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"
        self.retention_days, self.lock_mode = retention_days, lock_mode
        self.create_bucket = create_bucket
        self._locked: bool | None = None

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _error(self, exc: Exception) -> Exception:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return StoreUnavailable(f"witness {self.location} refused the request ({code})",
                                    code="witness_unavailable")
        return StoreUnavailable(f"witness {self.location} cannot be reached: {exc}",
                                code="witness_unavailable")

    def prepare(self) -> bool:
        """Create the bucket with Object Lock if it is missing (and allowed to); learn whether
        it has Object Lock. Returns whether it does."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._locked is not None:
            return self._locked
        try:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if (str(exc.response.get("Error", {}).get("Code")) not in _MISSING
                        or not self.create_bucket):
                    raise
                self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
            try:
                lock = self.client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                self._locked = enabled == "Enabled"
            except ClientError:
                self._locked = False  # no lock configuration, or a server without the feature
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc
        self.protection = (f"object lock {self.lock_mode}, {self.retention_days:g} days"
                           if self._locked else "if-none-match only (the bucket has no "
                           "object lock)")
        return self._locked

    def put(self, name: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        locked = self.prepare()
        extra = {}
        if locked:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.retention_days)
            extra = {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=data, ContentLength=len(data),
                ContentType="application/json", IfNoneMatch="*",
                ChecksumAlgorithm="SHA256",
                **extra)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _PRECONDITION:
                if self.get(name).data != data:
                    raise WitnessConflict(f"witness {self.location} already holds other bytes "
                                          f"as {name}", field="position") from None
                return False
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        return True

    def get(self, name: str) -> WitnessObject:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self._key(name)
        try:
            # the pointer is replaced each time: its newest version; a checkpoint: its first
            version_id, count = (None, 1) if name == LATEST else self._first_version(key)
            args = {"VersionId": version_id} if version_id else {}
            body = self.client.get_object(Bucket=self.bucket, Key=key, **args)["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
                raise NotFound(f"witness {self.location} holds no {name}",
                               field="position") from None
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        return WitnessObject(name, data, max(count, 1))

    def _first_version(self, key: str) -> tuple[str | None, int]:
        """The oldest version of `key` and how many there are (a bucket without versioning
        answers its one object as version "null")."""
        from botocore.exceptions import ClientError

        try:
            listing = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
        except ClientError:
            return None, 1
        versions = [v for v in listing.get("Versions", []) if v.get("Key") == key]
        if not versions:
            return None, 0
        # S3 lists a key's versions newest first (LastModified has whole seconds only)
        oldest = versions[-1]
        version_id = oldest.get("VersionId")
        return (None if version_id in (None, "null") else version_id), len(versions)

    def names(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + PREFIX):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix):]
                    if position_of(name) is not None:
                        found.append(name)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
                return []
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        return sorted(found)

    def set_latest(self, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:  # no lock on the pointer: it is replaced each time and proves nothing
            self.client.put_object(Bucket=self.bucket, Key=self._key(LATEST), Body=data,
                                   ContentType="application/json", ChecksumAlgorithm="SHA256")
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc


class HttpWitness(Witness):
    """The checkpoints the gateway publishes without login (read only)."""

    def __init__(self, base_url: str, timeout: float = 30):
        self.base = base_url.rstrip("/")
        self.location = self.base
        self.protection = "as published (read only)"
        self.timeout = timeout

    def _fetch(self, url: str) -> bytes:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"{url} is not an http(s) URL", field="witness")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:  # noqa: S310 - scheme checked above: http(s) only
                return answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(f"{url} answered 404", field="position") from None
            raise StoreUnavailable(f"{url} answered {exc.code}",
                                   code="witness_unavailable") from None
        except (urllib.error.URLError, OSError) as exc:
            raise StoreUnavailable(f"{url} cannot be reached: {exc}",
                                   code="witness_unavailable") from None

    def names(self) -> list[str]:
        found: list[str] = []
        after = 0
        while True:
            page = orjson.loads(self._fetch(f"{self.base}?after={after}&limit=500"))
            positions = [int(item["position"]) for item in page.get("checkpoints", [])]
            found += [object_name(p) for p in positions]
            if not positions or not page.get("more"):
                return found
            after = max(positions)

    def get(self, name: str) -> WitnessObject:
        position = position_of(name)
        if position is None:
            raise NotFound(f"{name} is not a checkpoint", field="position")
        return WitnessObject(name, self._fetch(f"{self.base}/{position}"))

    def put(self, name: str, data: bytes) -> bool:
        raise StoreUnavailable("the published checkpoints are read only", code="witness_read_only")

    def set_latest(self, data: bytes) -> None:
        raise StoreUnavailable("the published checkpoints are read only", code="witness_read_only")


def witness_at(location: str, **s3_options) -> Witness:
    """The witness a LOCATION names: `s3://bucket[/prefix]` (boto3's usual credentials and
    AWS_ENDPOINT_URL, or `s3_options`), an http(s) URL of `/api/public/checkpoints`, or a
    directory."""
    location = str(location or "").strip()
    if not location:
        raise ConfigError("give the witness as a directory, s3://bucket[/prefix] or the "
                          "https URL of /api/public/checkpoints", field="witness")
    parts = urllib.parse.urlsplit(location)
    if parts.scheme == "s3":
        if len(parts.netloc) < 3:
            raise ConfigError(f"{location}: the bucket name needs at least 3 characters",
                              field="witness")
        return S3Witness(parts.netloc, parts.path, **s3_options)
    if parts.scheme in ("http", "https"):
        return HttpWitness(location)
    return DirectoryWitness(location)


def witness_from_config(config: dict) -> Witness | None:
    """The signing service's witness: SIGNING_WITNESS (a location as `witness_at` reads it;
    unset: none), SIGNING_WITNESS_RETENTION_DAYS (3650) and SIGNING_WITNESS_LOCK_MODE
    (COMPLIANCE) for an S3 bucket with Object Lock, SIGNING_WITNESS_S3_ENDPOINT_URL,
    _S3_REGION, _S3_ACCESS_KEY_ID, _S3_SECRET_ACCESS_KEY (else boto3's own chain)."""
    location = str(config.get("SIGNING_WITNESS") or "").strip()
    if not location:
        return None
    options: dict = {}
    if location.startswith("s3://"):
        try:
            options["retention_days"] = float(config.get("SIGNING_WITNESS_RETENTION_DAYS")
                                              or 3650)
            if options["retention_days"] <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError("SIGNING_WITNESS_RETENTION_DAYS must be a positive number",
                              field="SIGNING_WITNESS_RETENTION_DAYS") from None
        mode = str(config.get("SIGNING_WITNESS_LOCK_MODE") or "COMPLIANCE").upper()
        if mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigError("SIGNING_WITNESS_LOCK_MODE is COMPLIANCE or GOVERNANCE",
                              field="SIGNING_WITNESS_LOCK_MODE")
        options["lock_mode"] = mode
        for key, arg in (("SIGNING_WITNESS_S3_ENDPOINT_URL", "endpoint_url"),
                         ("SIGNING_WITNESS_S3_REGION", "region_name"),
                         ("SIGNING_WITNESS_S3_ACCESS_KEY_ID", "aws_access_key_id"),
                         ("SIGNING_WITNESS_S3_SECRET_ACCESS_KEY", "aws_secret_access_key")):
            if config.get(key):
                options[arg] = config[key]
    elif location.startswith(("http://", "https://")):
        raise ConfigError("SIGNING_WITNESS must be writable: a directory or s3://bucket",
                          field="SIGNING_WITNESS")
    return witness_at(location, **options)
