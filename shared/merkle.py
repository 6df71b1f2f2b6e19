"""RFC 6962 Merkle trees over a service log's chain hashes, for inclusion proofs of one event.

The leaves are the events 1..N of one log in position order; a leaf's data is the event's chain
hash (`events.hash`, 32 bytes). As in RFC 6962 §2.1 (and RFC 9162 §2.1.1):

    leaf hash  = SHA-256(0x00 || event hash bytes)
    node hash  = SHA-256(0x01 || left || right)
    MTH(D[n])  = MTH(D[0:k]) and MTH(D[k:n]) joined, k the largest power of two below n

A signed checkpoint carries the root over events 1..N; `inclusion_proof` then shows that event
m is one of them with log2(N) hashes, checked by `verify_inclusion` without the log; and
`consistency_proof` shows that the tree of an earlier checkpoint (M events) is a prefix of a
later one's (N events), i.e. the log only grew in between, checked by `verify_consistency` with
nothing but the two sizes and roots. Indexes here are 0-based, as in the RFC: event at position
p is leaf p - 1. Hashes go in and out as hex."""

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

    def copy(self) -> Frontier:
        other = Frontier()
        other.size, other._stack = self.size, list(self._stack)
        return other

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


# -- consistency proofs (RFC 6962 §2.1.2, checked as RFC 9162 §2.1.4.2) --------------------------

def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose subtree roots make PROOF(m, D[n]), in proof order.
    They depend on the two sizes only and never overlap, so the proof can be built in one pass
    over the leaves (`consistency_proof_stream`) without holding them."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []

    def subproof(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            return
        k = _split(n)
        if m <= k:
            subproof(m, start, start + k, whole)
            ranges.append((start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            ranges.append((start, start + k))

    subproof(old_size, 0, new_size, True)
    return ranges


def consistency_proof(leaves: Sequence[str | bytes], old_size: int) -> list[str]:
    """PROOF(old_size, D[n]) over all `leaves` (n of them), hex: the nodes that show the tree
    of the first `old_size` leaves is a prefix of the tree of all of them."""
    hashed = [leaf_hash(leaf) for leaf in leaves]
    return [_range_root(hashed, start, end).hex()
            for start, end in consistency_ranges(old_size, len(leaves))]


def consistency_proof_stream(leaves: Iterable[str | bytes], old_size: int,
                             new_size: int) -> tuple[list[str], str, str]:
    """The same proof from leaves streamed in order (the first `new_size` are used), with the
    roots the stream gives for both sizes: (proof, old root, new root). Memory O(log n)."""
    ranges = consistency_ranges(old_size, new_size)
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    nodes: list[bytes | None] = [None] * len(ranges)
    whole, prefix = Frontier(), Frontier()
    current, part = 0, Frontier()
    for index, leaf in enumerate(leaves):
        if index >= new_size:
            break
        node = leaf_hash(leaf)
        whole.append_leaf(node)
        if index < old_size:
            prefix.append_leaf(node)
        while current < len(order) and ranges[order[current]][1] <= index:
            current += 1
        if current < len(order) and ranges[order[current]][0] <= index:
            part.append_leaf(node)
            if index == ranges[order[current]][1] - 1:
                nodes[order[current]] = part.root_bytes()
                part = Frontier()
                current += 1
    if whole.size != new_size:
        raise ValueError(f"the leaves end at {whole.size}, not {new_size}")
    return ([node.hex() for node in nodes],  # type: ignore[union-attr]
            prefix.root(), whole.root())


def verify_consistency(old_size: int, new_size: int, old_root: str, new_root: str,
                       proof: Sequence[str]) -> bool:
    """Whether `proof` shows the tree of `old_size` leaves with root `old_root` is a prefix of
    the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). A tree of 0 leaves
    is a prefix of any; equal sizes need equal roots and an empty proof."""
    try:
        nodes = [bytes.fromhex(p) for p in proof]
        first, second = bytes.fromhex(old_root), bytes.fromhex(new_root)
    except (ValueError, TypeError):
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not nodes and (new_size > 0 or first == second)
    if old_size == new_size:
        return not nodes and first == second
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the path
        nodes = [first, *nodes]
    if not nodes:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first and sr == second
