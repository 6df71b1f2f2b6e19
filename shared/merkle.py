"""RFC 6962 Merkle trees over a service log's chain hashes, for inclusion proofs of one event.

The leaves are the events 1..N of one log in position order; a leaf's data is the event's chain
hash (`events.hash`, 32 bytes). As in RFC 6962 §2.1 (and RFC 9162 §2.1.1):

    leaf hash  = SHA-256(0x00 || event hash bytes)
    node hash  = SHA-256(0x01 || left || right)
    MTH(D[n])  = MTH(D[0:k]) and MTH(D[k:n]) joined, k the largest power of two below n

A signed checkpoint carries the root over events 1..N; `inclusion_proof` then shows that event
m is one of them with log2(N) hashes, checked by `verify_inclusion` without the log. Indexes here
are 0-based, as in the RFC: event at position p is leaf p - 1. Hashes go in and out as hex."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").hexdigest()


def leaf_hash(event_hash: str | bytes) -> bytes:
    data = bytes.fromhex(event_hash) if isinstance(event_hash, str) else event_hash
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


class Frontier:
    """The roots of the perfect subtrees of the leaves seen so far (at most log2(n) of them):
    enough to give the RFC 6962 root after every append without keeping the leaves."""

    __slots__ = ("size", "_stack")

    def __init__(self):
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, event_hash: str | bytes) -> None:
        self.append_leaf(leaf_hash(event_hash))

    def append_leaf(self, node: bytes) -> None:
        stack = self._stack
        n = self.size
        while n & 1:  # each trailing 1 bit is a perfect subtree of the same size: merge it
            node = node_hash(stack.pop(), node)
            n >>= 1
        stack.append(node)
        self.size += 1

    def root_bytes(self) -> bytes:
        """Folding the subtrees from the right is exactly the RFC's split at the largest power
        of two: the leftmost subtree is the left half, the rest the right half, recursively."""
        stack = self._stack
        if not stack:
            return _sha256(b"").digest()
        acc = stack[-1]
        for node in reversed(stack[:-1]):
            acc = node_hash(node, acc)
        return acc

    def root(self) -> str:
        return self.root_bytes().hex()


def merkle_root(leaves: Iterable[str | bytes]) -> str:
    """The RFC 6962 tree head (hex) over the given event hashes, in order."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _range_root(hashed: Sequence[bytes], start: int, end: int) -> bytes:
    frontier = Frontier()
    for i in range(start, end):
        frontier.append_leaf(hashed[i])
    return frontier.root_bytes()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaves: Sequence[str | bytes], index: int) -> list[str]:
    """The audit path (RFC 6962 §2.1.1 PATH) of leaf `index` in the tree over `leaves`:
    sibling hashes from the leaf up to the root, hex."""
    size = len(leaves)
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} is not in a tree of {size}")
    hashed = [leaf_hash(leaf) for leaf in leaves]
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(_range_root(hashed, start + k, end))
            end = start + k
        else:
            path.append(_range_root(hashed, start, start + k))
            start, m = start + k, m - k
    return [node.hex() for node in reversed(path)]


def verify_inclusion(leaf: str | bytes, index: int, size: int, proof: Sequence[str],
                     root: str) -> bool:
    """Whether `proof` shows the event hash `leaf` at `index` in the tree of `size` leaves whose
    root is `root` (RFC 9162 §2.1.3.2). Needs nothing but the arguments."""
    if not 0 <= index < size:
        return False
    try:
        nodes = [bytes.fromhex(p) for p in proof]
        expected = bytes.fromhex(root)
        r = leaf_hash(leaf)
    except (ValueError, TypeError):
        return False
    fn, sn = index, size - 1
    for p in nodes:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected
