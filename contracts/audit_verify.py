"""Verify an insats audit bundle with nothing but the bundle and the log's public key.

Standalone on purpose: an auditor copies this one file and needs Python and `cryptography`,
nothing of insats. It is also the verifier insats itself uses, so there is one definition of
every rule below.

- The event log is an RFC 9162 (Certificate Transparency v2) Merkle tree: leaf i is the i-th
  public event in log order. Its leaf data is `canonical_json({"event": <public envelope>,
  "record": <SHA-256 hex of the stored, possibly encrypted record>})`; the leaf hash is
  SHA-256(0x00 || data) and an interior node SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
- A checkpoint is a C2SP tlog-checkpoint (origin, tree size, base64 root hash, then the
  extension line `time <RFC 3339 UTC>`) inside a C2SP signed note, signed with Ed25519.
  Witnesses add C2SP tlog-cosignature (cosignature/v1) lines.

    python audit_verify.py BUNDLE.json --public-key 'insats/…+1a2b3c4d+AbC…'
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_FORMAT = "insats-audit-bundle/v1"
ED25519 = 0x01  # C2SP signed-note signature type
COSIGNATURE_V1 = 0x04  # C2SP tlog-cosignature
DASH = "\u2014"  # the em dash that starts a signature line


class VerificationError(Exception):
    """A proof, a signature or a note does not verify."""


# --- RFC 9162 hashing and proof verification ----------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: RFC 8785 for data without floats (insats has none)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_data(event: dict[str, Any], record_sha256: str) -> bytes:
    return canonical_json({"event": event, "record": record_sha256})


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that `path` proves leaf `index` of a tree of `size` under."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> None:
    if root_from_inclusion(index, size, leaf, path) != root:
        raise VerificationError(f"leaf {index} is not in the tree of size {size} with that root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree of `size2` extends the tree of `size1` unchanged."""
    if not 0 <= size1 <= size2:
        raise VerificationError(f"sizes {size1} and {size2} cannot be consistent")
    if size1 == size2:
        if proof or root1 != root2:
            raise VerificationError(f"two different roots for tree size {size1}")
        return
    if size1 == 0:
        if proof:
            raise VerificationError("a consistency proof from the empty tree is empty")
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the proof's first node
        path.insert(0, root1)
    if not path:
        raise VerificationError("empty consistency proof")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != root1 or sr != root2:
        raise VerificationError(f"tree size {size2} does not extend tree size {size1}")


# --- C2SP signed notes, checkpoints and cosignatures --------------------------------------


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


class VerifierKey:
    """A C2SP verifier key `<name>+<key id hex>+<base64(type || public key)>`."""

    def __init__(self, text: str):
        try:
            name, hex_id, encoded = text.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise VerificationError(f"not a verifier key: {text!r}") from error
        if not name or len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise VerificationError(f"not an Ed25519 verifier key: {text!r}")
        self.name, self.alg, self.public_key = name, raw[0], raw[1:]
        self.id = key_id(name, self.alg, self.public_key)
        if self.id.hex() != hex_id.lower():
            raise VerificationError(f"verifier key {name!r}: key id does not match the key")
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key)

    def __str__(self) -> str:
        raw = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.id.hex()}+{raw}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def split_note(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text (ending in a newline) and its signatures (key name, bytes)."""
    body, sep, sigs = text.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise VerificationError("malformed signed note")
    signatures = []
    for line in sigs[:-1].split("\n"):
        prefix, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if prefix != DASH or not name or not encoded:
            raise VerificationError(f"malformed signature line {line!r}")
        try:
            signatures.append((name, base64.b64decode(encoded, validate=True)))
        except ValueError as error:
            raise VerificationError(f"malformed signature line {line!r}") from error
    return body + "\n", signatures


def verify_note(text: str, key: VerifierKey) -> str:
    """The note's text if `key` signed it (C2SP signed-note, Ed25519); raises otherwise."""
    body, signatures = split_note(text)
    for name, sig in signatures:
        if name == key.name and sig[:4] == key.id and key.alg == ED25519:
            if key.verify(sig[4:], body.encode()):
                return body
            raise VerificationError(f"the signature of {key.name!r} does not verify")
    raise VerificationError(f"the note carries no signature of {key.name!r}")


def cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def verify_cosignature(text: str, key: VerifierKey) -> int:
    """The time (Unix seconds) at which witness `key` cosigned the checkpoint note `text`."""
    body, signatures = split_note(text)
    for name, sig in signatures:
        if name == key.name and sig[:4] == key.id and key.alg == COSIGNATURE_V1:
            timestamp = int.from_bytes(sig[4:12], "big")
            if len(sig) == 76 and key.verify(sig[12:], cosigned_message(body, timestamp)):
                return timestamp
            raise VerificationError(f"the cosignature of {key.name!r} does not verify")
    raise VerificationError(f"the note carries no cosignature of {key.name!r}")


class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash, extension lines."""

    def __init__(self, body: str):
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise VerificationError("a checkpoint has an origin, a size and a root hash")
        try:
            self.origin, self.size = lines[0], int(lines[1])
            self.root = base64.b64decode(lines[2], validate=True)
        except ValueError as error:
            raise VerificationError("malformed checkpoint") from error
        if not self.origin or self.size < 0 or len(self.root) != 32 or str(self.size) != lines[1]:
            raise VerificationError("malformed checkpoint")
        self.extensions = lines[3:-1]
        self.time = next((x[5:] for x in self.extensions if x.startswith("time ")), "")


def checkpoint_body(origin: str, size: int, root: bytes, time: str) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {time}\n"


# --- bundles ------------------------------------------------------------------------------


def check_bundle(
    bundle: dict[str, Any], key: VerifierKey, witnesses: list[VerifierKey] | None = None
) -> list[str]:
    """Every problem with `bundle`; an empty list means: these events are, unchanged, in the
    log the key's checkpoint commits to, and they are the journey's whole history up to it —
    and, with `witnesses`, each of them cosigned that checkpoint."""
    if bundle.get("format") != BUNDLE_FORMAT:
        return [f"not an {BUNDLE_FORMAT} bundle"]
    try:
        checkpoint = Checkpoint(verify_note(bundle["checkpoint"], key))
    except (VerificationError, KeyError, TypeError) as error:
        return [f"checkpoint: {error}"]
    problems, versions = [], []
    for witness in witnesses or []:
        try:
            verify_cosignature(bundle["checkpoint"], witness)
        except VerificationError as error:
            problems.append(f"checkpoint: {error}")
    for item in bundle.get("events", []):
        event = item.get("event", {})
        where = f"event at position {event.get('position')}"
        try:
            leaf = leaf_hash(leaf_data(event, item["record"]))
            path = [base64.b64decode(p, validate=True) for p in item["inclusion"]]
            verify_inclusion(int(item["leaf_index"]), checkpoint.size, leaf, path, checkpoint.root)
        except (VerificationError, KeyError, TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
            continue
        if event.get("stream_id") != bundle.get("journey_id"):
            problems.append(f"{where}: belongs to stream {event.get('stream_id')}")
        versions.append(event.get("version"))
    if not versions:
        problems.append("the bundle holds no events")
    elif versions != list(range(1, len(versions) + 1)):
        problems.append(f"the journey's versions are not 1..{len(versions)}: {versions}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an insats audit bundle.")
    parser.add_argument("bundle", help="the bundle (JSON) that `insats audit prove` wrote")
    parser.add_argument("--public-key", required=True, help="the log's C2SP verifier key")
    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        help="require this witness's cosignature on the checkpoint (repeatable)",
    )
    args = parser.parse_args(argv)
    with open(args.bundle, encoding="utf-8") as f:
        bundle = json.load(f)
    witnesses = [VerifierKey(k) for k in args.witness_key]
    problems = check_bundle(bundle, VerifierKey(args.public_key), witnesses)
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        size = Checkpoint(split_note(bundle["checkpoint"])[0]).size
        print(
            f"OK {len(bundle['events'])} events of journey {bundle['journey_id']} are in the "
            f"signed log of size {size}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
