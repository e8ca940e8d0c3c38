"""`posbridge sign [FILE]` and `posbridge token`: an x-pch-digest and a JWT with the configured
secrets, for /docs and curl."""

from __future__ import annotations

import click

from app import jsonio, signing
from app.cli.output import say
from app.cli.sample import jwt_token, shared_id


@click.command()
@click.argument("body", type=click.File("rb"), default="-")
@click.option(
    "--example",
    type=click.Choice(["submit", "validate"]),
    default=None,
    help="sign the /docs example body of this operation (and print it) instead of reading one",
)
def sign(body, example: str | None) -> None:
    """Print the x-pch-digest of an order body (a file, or stdin) with the configured PAR_SHARED_ID."""
    if example:
        from app.openapi import example_order

        document = example_order("place-order" if example == "submit" else "validate-order")
        say(jsonio.dumps(document))
    else:
        try:
            document = jsonio.loads(body.read())
        except ValueError as exc:
            raise click.ClickException(f"the body is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise click.ClickException("the body is not a JSON object")
    say(signing.sign(signing.key_from_shared_id(shared_id()), document))


@click.command()
@click.option("--seconds", default=3600, show_default=True, help="how long the token is valid")
def token(seconds: int) -> None:
    """Print a JWT signed with the configured PAR_JWT_SECRET (for /docs' Authorize and curl)."""
    say(jwt_token(seconds))
