"""RFC 9162 Merkle tree arithmetic over stored perfect subtrees.

The tree is kept as its *perfect* subtrees: node (level, index) is the hash of leaves
[index·2^level, (index+1)·2^level). Such a node never changes once its last leaf exists, so the
store only ever appends, and every subtree the RFC's proofs need is either one stored node or a
combination of O(log n) of them (the RFC's split point k is always a power of two aligned to
the range's start). Verification lives in `contracts.audit_verify`, written independently of
this file; tests check both against each other and against pymerkle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from contracts.audit_verify import node_hash

EMPTY_ROOT = hashlib.sha256(b"").digest()

# (level, index) -> hash of a perfect subtree that exists
NodeReader = Callable[[int, int], bytes]


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(node: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces (start aligned)."""
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = _largest_power_of_two_below(size)
    return node_hash(subtree_hash(node, start, start + k), subtree_hash(node, start + k, end))


def root(node: NodeReader, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(node, 0, size)


def inclusion_path(node: NodeReader, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size])."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            path.append(subtree_hash(node, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(node, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(node: NodeReader, size1: int, size2: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2])."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    if size1 == 0 or size1 == size2:
        return []
    proof: list[bytes] = []
    start, end, m, whole = 0, size2, size1, True
    while True:  # SUBPROOF(m, D[start:end], whole)
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree_hash(node, start, end))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            proof.append(subtree_hash(node, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(node, start, start + k))
            start, m, whole = start + k, m - k, False
    proof.reverse()
    return proof


class CompactRange:
    """The right edge of a growing tree: one perfect subtree per set bit of its size.

    Appending a leaf yields every perfect node it completes, (level, index, hash), which is what
    the store appends; `root()` is the RFC root of the leaves so far. Memory O(log n)."""

    def __init__(self, size: int = 0, peaks: Iterable[bytes] = ()):
        self.size = size
        self.peaks = list(peaks)  # highest level first
        if len(self.peaks) != bin(size).count("1"):
            raise ValueError("a compact range holds one peak per set bit of its size")

    @staticmethod
    def peak_positions(size: int) -> list[tuple[int, int]]:
        """(level, index) of the peaks of a tree of `size`, highest first."""
        out, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        made = [(0, self.size, leaf)]
        index, level, current = self.size, 0, leaf
        while index & 1:
            current = node_hash(self.peaks.pop(), current)
            index, level = index >> 1, level + 1
            made.append((level, index, current))
        self.peaks.append(current)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        current = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            current = node_hash(peak, current)
        return current
