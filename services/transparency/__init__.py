"""The tamper-evident event log: an RFC 9162 Merkle tree over the public events, signed
checkpoints (C2SP), inclusion and consistency proofs, audit bundles and witnessing
(docs/audit.md)."""
