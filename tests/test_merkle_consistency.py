"""RFC 6962 consistency proofs (issue 13 part 5): the tree of an earlier checkpoint is a prefix
of a later one's. Checked against a reference written as the RFC writes it, for every pair of
sizes up to 40, and refused for every kind of lie."""

import hashlib

import pytest

from shared.merkle import (
    consistency_proof,
    consistency_proof_stream,
    merkle_root,
    verify_consistency,
)
from tests.helpers import rfc6962_root

pytestmark = pytest.mark.timeout(60)


def _reference_proof(m, leaves, whole=True):
    """RFC 6962 §2.1.2 SUBPROOF, literally."""
    n = len(leaves)
    if m == n:
        return [] if whole else [rfc6962_root(leaves).hex()]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return _reference_proof(m, leaves[:k], whole) + [rfc6962_root(leaves[k:]).hex()]
    return _reference_proof(m - k, leaves[k:], False) + [rfc6962_root(leaves[:k]).hex()]


def _leaves(n, tag="x"):
    return [hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() for i in range(n)]


def test_proofs_match_the_rfc_and_verify_for_every_pair_of_sizes_up_to_40():
    for n in range(1, 41):
        leaves = _leaves(n)
        new_root = merkle_root(leaves)
        for m in range(1, n + 1):
            proof = consistency_proof(leaves, m)
            assert proof == _reference_proof(m, leaves), (m, n)
            assert len(proof) <= 2 * n.bit_length()
            old_root = merkle_root(leaves[:m])
            assert verify_consistency(m, n, old_root, new_root, proof), (m, n)
            streamed = consistency_proof_stream(iter(leaves + _leaves(3, "later")), m, n)
            assert streamed == (proof, old_root, new_root)


def test_a_forked_or_shrunk_log_or_a_bent_proof_is_refused():
    leaves = _leaves(21)
    forked = leaves[:9] + _leaves(12, "forged")  # the same length, event 10 on rewritten
    for m in (1, 4, 9, 10, 16, 20):
        old_root = merkle_root(leaves[:m])
        proof = consistency_proof(leaves, m)
        new_root = merkle_root(leaves)
        if m >= 10:  # the fork changed what the old tree held
            assert not verify_consistency(m, 21, old_root, merkle_root(forked),
                                          consistency_proof(forked, m))
        for i in range(len(proof)):
            bent = list(proof)
            bent[i] = "00" * 32
            assert not verify_consistency(m, 21, old_root, new_root, bent), (m, i)
        assert not verify_consistency(m, 21, old_root, new_root, proof[:-1])
        assert not verify_consistency(m, 21, old_root, new_root, [*proof, "00" * 32])
        assert not verify_consistency(21, m, new_root, old_root, proof)  # shrank
    assert verify_consistency(0, 5, merkle_root([]), merkle_root(leaves[:5]), [])
    assert verify_consistency(12, 12, merkle_root(leaves[:12]), merkle_root(leaves[:12]), [])
    assert not verify_consistency(12, 12, merkle_root(leaves[:12]), merkle_root(forked[:12]), [])
    assert not verify_consistency(3, 5, "not hex", merkle_root(leaves[:5]), [])
