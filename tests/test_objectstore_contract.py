"""One contract for every document store: the same tests run on the filesystem and on a real
S3-compatible server (moto in server mode, started here as a subprocess)."""

import hashlib
import io
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from shared.errors import ConfigError, NotFound, StoreUnavailable, ValidationFailed
from shared.objectstore import (
    CHUNK_SIZE,
    BoundedReader,
    FileSystemStore,
    S3Store,
    StoredObject,
    object_key,
    store_from_config,
)
from shared.testing import unpatched_ssl_context

pytestmark = pytest.mark.timeout(30)

S3_CREDENTIALS = {
    "aws_access_key_id": "test",
    "aws_secret_access_key": "test",
    "region_name": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answers(port: int, proc: subprocess.Popen, deadline_s: float = 15.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not answer in time")


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API on a free port for this module; killed at the end."""
    port = _free_port()
    binary = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_answers(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _s3_client(endpoint_url: str, **kwargs):
    import boto3

    with unpatched_ssl_context():
        return boto3.client("s3", endpoint_url=endpoint_url, **S3_CREDENTIALS, **kwargs)


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path):
    if request.param == "filesystem":
        return FileSystemStore(tmp_path / "documents", chunk_size=64 * 1024)
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"simasn-test-{uuid.uuid4().hex[:12]}"
    return S3Store(bucket, client=_s3_client(endpoint), chunk_size=64 * 1024)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TestObjectStoreContract:
    def test_roundtrip_bytes(self, store):
        data = b"%PDF-1.7 surat keputusan " + os.urandom(100)
        stored = store.put(data, "application/pdf")
        assert stored == StoredObject(_sha(data), len(data), "application/pdf")
        assert store.read(stored.sha256) == data

    def test_roundtrip_stream(self, store):
        data = os.urandom(300_000)
        stored = store.put(io.BytesIO(data), "image/jpeg")
        assert stored.sha256 == _sha(data)
        assert store.read(stored.sha256) == data

    def test_an_upload_past_its_limit_is_stopped_and_leaves_nothing(self, store):
        data = os.urandom(3 * CHUNK_SIZE)
        source = io.BytesIO(data)
        too_big = ValueError("too big")
        with pytest.raises(ValueError, match="too big"):
            store.put(BoundedReader(source, 2 * CHUNK_SIZE, too_big))
        assert source.tell() <= 2 * CHUNK_SIZE + 1, "read at most limit + 1 bytes"
        assert not store.exists(_sha(data)) and not store.exists(_sha(data[:2 * CHUNK_SIZE]))
        fitting = store.put(BoundedReader(io.BytesIO(data), len(data), too_big))
        assert fitting.size == len(data)

    def test_empty_object(self, store):
        stored = store.put(b"", "application/octet-stream")
        assert stored.size == 0
        assert store.read(stored.sha256) == b""

    def test_same_bytes_same_address_stored_once(self, store):
        data = os.urandom(1000)
        first = store.put(data, "image/png")
        second = store.put(io.BytesIO(data), "image/png")
        assert first == second
        assert object_key(first.sha256) == f"sha256/{first.sha256[:2]}/{first.sha256}"
        assert _count_objects(store) == 1

    def test_immutable_first_metadata_stands(self, store):
        data = os.urandom(1000)
        first = store.put(data, "image/png")
        again = store.put(data, "application/pdf")
        assert again.content_type == "image/png"
        assert store.stat(first.sha256).content_type == "image/png"
        assert store.read(first.sha256) == data

    def test_expected_hash_mismatch_refused_and_nothing_kept(self, store):
        data = os.urandom(500)
        wrong = _sha(b"something else")
        with pytest.raises(ValidationFailed) as err:
            store.put(data, "image/png", expected_sha256=wrong)
        assert err.value.field == "sha256"
        assert not store.exists(_sha(data))
        assert store.put(data, "image/png", expected_sha256=_sha(data)).sha256 == _sha(data)

    def test_a_put_says_whether_it_stored_the_bytes_and_delete_removes_them(self, store):
        data = b"%PDF-1.7 ditolak " + os.urandom(64)
        first = store.put(data, "application/pdf")
        assert first.created is True
        assert store.put(data, "application/pdf").created is False  # already held
        assert store.stat(first.sha256).created is False
        store.delete(first.sha256)
        assert not store.exists(first.sha256)
        with pytest.raises(NotFound):
            store.open(first.sha256)
        store.delete(first.sha256)  # absent already: fine
        assert _count_objects(store) == 0
        assert store.put(data, "application/pdf").created is True  # may come back whole
        assert store.read(first.sha256) == data

    def test_multi_megabyte_object_streams_in_chunks(self, store):
        data = os.urandom(5 * 1024 * 1024 + 123)
        stored = store.put(io.BytesIO(data), "application/pdf")
        chunks = store.open(stored.sha256)
        assert not isinstance(chunks, bytes | list)
        digest = hashlib.sha256()
        count = 0
        biggest = 0
        for chunk in chunks:
            digest.update(chunk)
            count += 1
            biggest = max(biggest, len(chunk))
        assert digest.hexdigest() == stored.sha256
        assert count > 1
        assert biggest <= 64 * 1024

    def test_exists_and_stat(self, store):
        data = os.urandom(2048)
        assert not store.exists(_sha(data))
        store.put(data, "image/jpeg")
        assert store.exists(_sha(data))
        assert store.stat(_sha(data)) == StoredObject(_sha(data), 2048, "image/jpeg")

    def test_missing_is_not_found(self, store):
        missing = _sha(uuid.uuid4().bytes)
        store.put(b"something so the bucket exists", "text/plain")
        for call in (store.open, store.stat):
            with pytest.raises(NotFound) as err:
                call(missing)
            assert err.value.field == "sha256"
        assert not store.exists(missing)

    def test_hashes_lists_every_object_once_and_nothing_else(self, store):
        assert list(store.hashes()) == []  # a new store (an S3 bucket not made yet)
        held = {store.put(os.urandom(100 + n)).sha256 for n in range(5)}
        store.delete(_sha(b"absent"))
        gone = store.put(b"refused upload").sha256  # deleted: no longer listed
        store.delete(gone)
        assert sorted(store.hashes()) == sorted(held)

    def test_bad_hash_refused(self, store):
        with pytest.raises(ValidationFailed):
            store.stat("../../etc/passwd")


def _count_objects(store) -> int:
    if isinstance(store, FileSystemStore):
        base = os.path.join(store.root, "sha256")
        return sum(
            1
            for _, _, files in os.walk(base)
            for name in files
            if not name.endswith(".json")
        )
    listing = store.client.list_objects_v2(Bucket=store.bucket)
    return listing.get("KeyCount", 0)


def test_filesystem_detects_corruption(tmp_path):
    store = FileSystemStore(tmp_path)
    stored = store.put(b"original bytes", "text/plain")
    path = os.path.join(tmp_path, *object_key(stored.sha256).split("/"))
    os.chmod(path, 0o644)
    with open(path, "wb") as handle:
        handle.write(b"tampered bytes")
    with pytest.raises(StoreUnavailable) as err:
        b"".join(store.open(stored.sha256))
    assert err.value.code == "object_corrupt"


def test_s3_unreachable_is_store_unavailable():
    from botocore.config import Config

    client = _s3_client(
        f"http://127.0.0.1:{_free_port()}",
        config=Config(connect_timeout=0.5, retries={"max_attempts": 1}),
    )
    store = S3Store("simasn-unreachable", client=client)
    with pytest.raises(StoreUnavailable) as err:
        store.put(b"data", "text/plain")
    assert isinstance(err.value.__cause__, Exception)
    with pytest.raises(StoreUnavailable):
        store.stat(_sha(b"data"))


class TestStoreFromConfig:
    def test_filesystem_is_default(self, tmp_path):
        store = store_from_config({"DOCUMENT_ROOT": str(tmp_path)})
        assert isinstance(store, FileSystemStore)
        assert store.root == str(tmp_path)
        assert store_from_config({}).root == "var/documents"

    def test_s3(self, s3_endpoint):
        with unpatched_ssl_context():
            store = store_from_config({
                "DOCUMENT_STORE": "s3",
                "DOCUMENT_BUCKET": f"simasn-cfg-{uuid.uuid4().hex[:8]}",
                "S3_ENDPOINT_URL": s3_endpoint,
                "S3_REGION": "us-east-1",
                "S3_ACCESS_KEY_ID": "test",
                "S3_SECRET_ACCESS_KEY": "test",
            })
        assert isinstance(store, S3Store)
        stored = store.put(b"via config", "text/plain")
        assert store.read(stored.sha256) == b"via config"

    @pytest.mark.parametrize(
        "config, key",
        [
            ({"DOCUMENT_STORE": "ftp"}, "DOCUMENT_STORE"),
            ({"DOCUMENT_STORE": "s3"}, "DOCUMENT_BUCKET"),
            ({"DOCUMENT_STORE": "s3", "DOCUMENT_BUCKET": "ab"}, "DOCUMENT_BUCKET"),
        ],
    )
    def test_bad_config_names_key(self, config, key):
        with pytest.raises(ConfigError) as err:
            store_from_config(config)
        assert err.value.field == key
