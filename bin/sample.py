"""Signed sample orders against the simulator's seeded menu, for tests, benches and trying it
(made by app/samples.py; importable from here for the harnesses).

`posbridge sample submit` (or `python -m bin.sample submit`) posts one and prints the answer;
`posbridge sample --help` lists the options (--location --uid --ttl --callback-url, poll).
"""

from __future__ import annotations

import sys

from app.samples import encode, sample_order

__all__ = ["encode", "sample_order"]

if __name__ == "__main__":  # `python -m bin.sample ...` is `posbridge sample ...`
    from app.cli import main

    main(args=["sample", *sys.argv[1:]], prog_name="python -m bin.sample")
