"""The Merkle tree arithmetic against the RFC 9162 definitions, written here independently."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.audit_verify import (
    VerificationError,
    canonical_json,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from services.transparency import tree
from services.transparency.log import leaf_bytes


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def stored(leaves: list[bytes]) -> tree.NodeReader:
    """Perfect subtrees as the store keeps them, built with CompactRange."""
    nodes: dict[tuple[int, int], bytes] = {}
    edge = tree.CompactRange()
    for leaf in leaves:
        for level, index, h in edge.append(leaf):
            nodes[level, index] = h
    return lambda level, index: nodes[level, index]


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(str(i).encode()) for i in range(n)]


def test_the_empty_tree_and_rfc_6962_leaf_vectors() -> None:
    assert tree.root(stored([]), 0).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    # RFC 6962 test vector: the hash of the empty leaf
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize("n", range(1, 40))
def test_roots_and_proofs_agree_with_the_definition(n: int) -> None:
    leaves = leaves_of(n)
    node = stored(leaves)
    edge = tree.CompactRange()
    for leaf in leaves:
        edge.append(leaf)
    assert tree.root(node, n) == mth(leaves) == edge.root()
    for m in range(n):
        verify_inclusion(m, n, leaves[m], tree.inclusion_path(node, m, n), mth(leaves))
    for m in range(n + 1):
        proof = tree.consistency_proof(node, m, n)
        verify_consistency(m, n, mth(leaves[:m]), mth(leaves), proof)


def test_a_changed_leaf_or_root_fails_the_proofs() -> None:
    leaves = leaves_of(11)
    node = stored(leaves)
    path = tree.inclusion_path(node, 6, 11)
    with pytest.raises(VerificationError):
        verify_inclusion(6, 11, leaf_hash(b"forged"), path, mth(leaves))
    with pytest.raises(VerificationError):
        verify_inclusion(5, 11, leaves[6], path, mth(leaves))
    proof = tree.consistency_proof(node, 7, 11)
    other = [*leaves[:3], leaf_hash(b"x"), *leaves[4:]]
    with pytest.raises(VerificationError):
        verify_consistency(7, 11, mth(other[:7]), mth(leaves), proof)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=2**64)  # earlier releases accepted some (far-future facts)
        | st.text(st.characters(blacklist_categories=("Cs",))),  # JSON text is valid Unicode
        lambda inner: (
            st.lists(inner)
            | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",))), inner)
        ),
        max_leaves=20,
    )
)
def test_the_service_leaf_bytes_are_the_verifier_canonical_bytes(value: object) -> None:
    event = {"payload": value, "position": 1}
    assert leaf_bytes(event, "ab") == canonical_json({"event": event, "record": "ab"})
