"""A JWT signed with PAR_JWT_SECRET, for trying the API by hand: `posbridge token` (the maker is
app/tokens.py; importable from here for the harnesses)."""

from __future__ import annotations

from app.tokens import make_token

__all__ = ["make_token"]

if __name__ == "__main__":  # `python -m bin.token` is `posbridge token`
    from app.cli import main

    main(args=["token"], prog_name="python -m bin.token")
