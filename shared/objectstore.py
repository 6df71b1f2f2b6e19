"""Content-addressed, immutable object storage for uploaded documents.

One interface, two homes: the local filesystem (the default) and any S3-compatible server through
boto3. An object's key is its SHA-256 (`sha256/<hex[:2]>/<hex>`), so storing the same bytes twice is
a no-op and nothing is ever overwritten; events link to documents by that hash. An object goes
only when the upload that brought it is refused and nothing refers to it (`delete`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from shared.errors import ConfigError, NotFound, StoreUnavailable, ValidationFailed

CHUNK_SIZE = 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    size: int
    content_type: str
    #: True only when this put stored the bytes (the store did not hold them before): whoever
    #: refuses such an upload may delete it without taking anything from anyone else
    created: bool = field(default=False, compare=False)


def object_key(sha256: str) -> str:
    """The storage key of a hash; refuses anything that is not a lowercase SHA-256 hex digest."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValidationFailed("Bukan hash SHA-256 yang sah", field="sha256")
    return f"sha256/{sha256[:2]}/{sha256}"


def _chunks(data: bytes | BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start:start + chunk_size])
        return
    while True:
        chunk = data.read(chunk_size)
        if not chunk:
            return
        yield chunk


def _check_expected(actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected.lower():
        raise ValidationFailed(
            "Isi berkas tidak cocok dengan hash SHA-256 yang dinyatakan",
            field="sha256",
            details={"expected": expected, "actual": actual},
        )


def _not_found(sha256: str) -> NotFound:
    return NotFound(f"Dokumen {sha256} tidak ditemukan", field="sha256")


class ObjectStore:
    """What every document store promises. Objects are immutable and addressed by SHA-256."""

    def put(
        self,
        data: bytes | BinaryIO,
        content_type: str = DEFAULT_CONTENT_TYPE,
        *,
        expected_sha256: str | None = None,
    ) -> StoredObject:
        """Store `data` (read in chunks if a stream) and return its address; a repeat is a no-op.

        With `expected_sha256`, content that does not hash to it is refused and nothing is kept.
        """
        raise NotImplementedError

    def open(self, sha256: str) -> Iterator[bytes]:
        """The object's bytes as an iterator of chunks; raises NotFound at once if missing."""
        raise NotImplementedError

    def exists(self, sha256: str) -> bool:
        raise NotImplementedError

    def stat(self, sha256: str) -> StoredObject:
        raise NotImplementedError

    def hashes(self) -> Iterator[str]:
        """The SHA-256 of every object held, streamed (a backup walks a store of any size)."""
        raise NotImplementedError

    def delete(self, sha256: str) -> None:
        """Remove an object (a refused upload nothing refers to); absent already is fine.
        The only way an object ever goes: stored objects are never changed."""
        raise NotImplementedError

    def reader(self, sha256: str) -> BinaryIO:
        """The object as a buffered file-like stream (for parsers that want `read`)."""
        return io.BufferedReader(ChunkReader(self.open(sha256)), CHUNK_SIZE)

    def read(self, sha256: str) -> bytes:
        """All of an object in memory: for small objects and tests; prefer `open` elsewhere."""
        return b"".join(self.open(sha256))


class FileSystemStore(ObjectStore):
    """Objects as read-only files under `root_dir`, each with a JSON sidecar for its metadata.

    A put streams into a temp file in the same directory tree while hashing, then hard-links it to
    its final name: the link fails if the name exists, so an object can never be overwritten and a
    reader never sees half a file.
    """

    def __init__(self, root_dir: str | os.PathLike, chunk_size: int = CHUNK_SIZE):
        self.root = os.fspath(root_dir)
        self.chunk_size = chunk_size

    def _path(self, sha256: str) -> str:
        return os.path.join(self.root, *object_key(sha256).split("/"))

    def _tmp_dir(self) -> str:
        path = os.path.join(self.root, "tmp")
        os.makedirs(path, exist_ok=True)
        return path

    def put(self, data, content_type=DEFAULT_CONTENT_TYPE, *, expected_sha256=None):
        try:
            return self._put(data, content_type, expected_sha256)
        except OSError as exc:
            raise StoreUnavailable(f"Gagal menyimpan dokumen: {exc.strerror}") from exc

    def _put(self, data, content_type, expected_sha256) -> StoredObject:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_path = tempfile.mkstemp(dir=self._tmp_dir(), prefix="put-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in _chunks(data, self.chunk_size):
                    digest.update(chunk)
                    size += len(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            sha256 = digest.hexdigest()
            _check_expected(sha256, expected_sha256)
            final = self._path(sha256)
            if os.path.exists(final):
                return self.stat(sha256)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            # Metadata first: the data file appearing is the commit point of the object.
            self._write_meta(final, {"size": size, "content_type": content_type})
            os.chmod(tmp_path, 0o444)
            try:
                os.link(tmp_path, final)
            except FileExistsError:
                return self.stat(sha256)  # a concurrent put of the same bytes won
            return StoredObject(sha256, size, content_type, created=True)
        finally:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        try:
            for name in (path, path + ".json"):  # the data file first: it makes the object
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass
        except OSError as exc:
            raise StoreUnavailable(f"Gagal menghapus dokumen: {exc.strerror}") from exc

    def _write_meta(self, final: str, meta: dict) -> None:
        fd, tmp_path = tempfile.mkstemp(dir=self._tmp_dir(), prefix="meta-")
        try:
            with os.fdopen(fd, "w") as tmp:
                json.dump(meta, tmp)
            try:
                os.link(tmp_path, final + ".json")
            except FileExistsError:
                pass  # first writer's metadata stands: objects are immutable
        finally:
            os.unlink(tmp_path)

    def open(self, sha256: str) -> Iterator[bytes]:
        try:
            handle = open(self._path(sha256), "rb")
        except FileNotFoundError as exc:
            raise _not_found(sha256) from exc
        except OSError as exc:
            raise StoreUnavailable(f"Gagal membaca dokumen: {exc.strerror}") from exc
        return self._stream(handle, sha256)

    def _stream(self, handle: BinaryIO, sha256: str) -> Iterator[bytes]:
        """Yield the file in chunks, checking at the end that the bytes still hash to their name."""
        digest = hashlib.sha256()
        with handle:
            while True:
                try:
                    chunk = handle.read(self.chunk_size)
                except OSError as exc:
                    raise StoreUnavailable(f"Gagal membaca dokumen: {exc.strerror}") from exc
                if not chunk:
                    break
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != sha256:
            raise StoreUnavailable(
                f"Dokumen {sha256} rusak di penyimpanan", code="object_corrupt", field="sha256"
            )

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self._path(sha256))

    def hashes(self) -> Iterator[str]:
        top = os.path.join(self.root, "sha256")
        try:
            prefixes = sorted(os.listdir(top))
        except FileNotFoundError:
            return
        for prefix in prefixes:
            try:
                names = sorted(os.listdir(os.path.join(top, prefix)))
            except NotADirectoryError:
                continue
            for name in names:  # the data files: each sidecar is <hash>.json
                if len(name) == 64 and name.startswith(prefix):
                    yield name

    def stat(self, sha256: str) -> StoredObject:
        path = self._path(sha256)
        try:
            size = os.stat(path).st_size
            with open(path + ".json") as handle:
                meta = json.load(handle)
        except FileNotFoundError as exc:
            raise _not_found(sha256) from exc
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"Metadata dokumen {sha256} tidak terbaca") from exc
        return StoredObject(sha256, size, meta.get("content_type", DEFAULT_CONTENT_TYPE))


_S3_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class S3Store(ObjectStore):
    """Objects in one S3 bucket (real S3, MinIO, SeaweedFS...), keyed by their SHA-256.

    Uploads are spooled to a temp file while hashing (the key needs the hash first), then sent with
    `ChecksumSHA256` so the server verifies the bytes it got, and `IfNoneMatch="*"` so an existing
    object is never replaced.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        client=None,
        *,
        chunk_size: int = CHUNK_SIZE,
        spool_bytes: int = 8 * CHUNK_SIZE,
        **client_kwargs,
    ):
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, **client_kwargs)
        self.client = client
        self.bucket = bucket
        self.chunk_size = chunk_size
        self.spool_bytes = spool_bytes
        self._bucket_ready = False

    def _translate(self, exc: Exception, sha256: str | None = None) -> Exception:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if sha256 is not None and code in _S3_MISSING:
                return _not_found(sha256)
            return StoreUnavailable(f"Penyimpanan dokumen menolak permintaan ({code})")
        return StoreUnavailable(f"Penyimpanan dokumen tidak dapat dihubungi: {exc}")

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (idempotent; checked once per store)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._bucket_ready:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in _S3_MISSING:
                raise self._translate(exc) from exc
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as create_exc:
                code = create_exc.response.get("Error", {}).get("Code")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise self._translate(create_exc) from create_exc
            except BotoCoreError as create_exc:
                raise self._translate(create_exc) from create_exc
        except BotoCoreError as exc:
            raise self._translate(exc) from exc
        self._bucket_ready = True

    def put(self, data, content_type=DEFAULT_CONTENT_TYPE, *, expected_sha256=None):
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=self.spool_bytes) as spool:
            for chunk in _chunks(data, self.chunk_size):
                digest.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            sha256 = digest.hexdigest()
            _check_expected(sha256, expected_sha256)
            self.ensure_bucket()
            if self.exists(sha256):
                return self.stat(sha256)
            spool.seek(0)
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=object_key(sha256),
                    Body=spool,
                    ContentLength=size,
                    ContentType=content_type,
                    ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return self.stat(sha256)  # a concurrent put of the same bytes won
                raise self._translate(exc) from exc
            except BotoCoreError as exc:
                raise self._translate(exc) from exc
        return StoredObject(sha256, size, content_type, created=True)

    def delete(self, sha256: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=object_key(sha256))
        except (ClientError, BotoCoreError) as exc:
            error = self._translate(exc, sha256)
            if not isinstance(error, NotFound):
                raise error from exc

    def open(self, sha256: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key(sha256))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, sha256) from exc
        return self._stream(response["Body"])

    def _stream(self, body) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError

        try:
            yield from body.iter_chunks(self.chunk_size)
        except BotoCoreError as exc:
            raise self._translate(exc) from exc
        finally:
            body.close()

    def exists(self, sha256: str) -> bool:
        try:
            self.stat(sha256)
        except NotFound:
            return False
        return True

    def hashes(self) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix="sha256/")
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if item["Key"] == f"sha256/{name[:2]}/{name}" and len(name) == 64:
                        yield name
        except (ClientError, BotoCoreError) as exc:
            error = self._translate(exc, "0" * 64)
            if not isinstance(error, NotFound):  # no bucket yet: nothing held
                raise error from exc

    def stat(self, sha256: str) -> StoredObject:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=object_key(sha256))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, sha256) from exc
        return StoredObject(
            sha256, int(head["ContentLength"]), head.get("ContentType") or DEFAULT_CONTENT_TYPE
        )


def store_from_config(config: dict) -> ObjectStore:
    """Build the configured document store; a missing or bad setting fails naming its key.

    DOCUMENT_STORE: "filesystem" (default; DOCUMENT_ROOT, default var/documents) or "s3"
    (DOCUMENT_BUCKET required; S3_ENDPOINT_URL, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
    optional — without them boto3's usual credential chain applies).
    """
    kind = str(config.get("DOCUMENT_STORE") or "filesystem").strip().lower()
    if kind == "filesystem":
        root = config.get("DOCUMENT_ROOT") or "var/documents"
        if not isinstance(root, str | os.PathLike):
            raise ConfigError("DOCUMENT_ROOT harus berupa path direktori", field="DOCUMENT_ROOT")
        return FileSystemStore(root)
    if kind == "s3":
        bucket = config.get("DOCUMENT_BUCKET")
        if not isinstance(bucket, str) or len(bucket.strip()) < 3:
            raise ConfigError(
                "DOCUMENT_BUCKET wajib diisi (minimal 3 karakter) bila DOCUMENT_STORE=s3",
                field="DOCUMENT_BUCKET",
            )
        client_kwargs = {
            arg: config[key]
            for key, arg in (
                ("S3_REGION", "region_name"),
                ("S3_ACCESS_KEY_ID", "aws_access_key_id"),
                ("S3_SECRET_ACCESS_KEY", "aws_secret_access_key"),
            )
            if config.get(key)
        }
        return S3Store(bucket.strip(), endpoint_url=config.get("S3_ENDPOINT_URL") or None,
                       **client_kwargs)
    raise ConfigError(
        f"DOCUMENT_STORE tidak dikenal: {kind!r} (pilih 'filesystem' atau 's3')",
        field="DOCUMENT_STORE",
    )


class ChunkReader(io.RawIOBase):
    """A readable raw stream over an iterator of byte chunks (what `open` gives)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._left = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size], self._left = self._left[:size], self._left[size:]
        return size


class BoundedReader:
    """A stream that refuses to give more than `limit` bytes: an oversized upload is stopped
    after reading at most limit + 1 bytes, whatever its Content-Length claimed."""

    def __init__(self, stream: BinaryIO, limit: int, error: Exception):
        self.stream, self.limit, self.error, self.read_so_far = stream, limit, error, 0

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        size = min(size if size and size > 0 else CHUNK_SIZE, self.limit + 1 - self.read_so_far)
        chunk = self.stream.read(size) if size > 0 else b""
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise self.error
        return chunk


try:  # the Nameko dependency; plain scripts and tests use the stores without Nameko
    from nameko.extensions import DependencyProvider
except ImportError:  # pragma: no cover
    DependencyProvider = object


class DocumentStore(DependencyProvider):
    """Nameko dependency: `documents = DocumentStore()`; the configured store, built once."""

    def setup(self):
        self.store = store_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.store
