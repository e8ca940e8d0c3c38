"""The reliability harness: orders through the real stack while faults are injected, then
invariants checked against the POS simulator's ledger and the order store.

`python -m reliability [--short] [--minutes N]`; see docs/RELIABILITY.md.
"""
