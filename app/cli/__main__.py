"""`python -m app.cli` is `posbridge`."""

from app.cli import run

run()
