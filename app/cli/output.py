"""What the CLI prints: control characters escaped (a location_id or a POS answer may carry
terminal escape sequences or `\\r`), and its one-line failures with their exit codes."""

from __future__ import annotations

import unicodedata

import click

from app import jsonio
from app.times import format_time


class Trouble(click.ClickException):
    """One line on stderr and a chosen exit code: configuration, Redis, broker or POS trouble."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(safe(message, keep_newlines=True))
        object.__setattr__(self, "exit_code", exit_code)  # click declares it a class attribute

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, keep_newlines: bool = False) -> str:
    """`value` as text with every control and format character (C0, DEL, C1, bidi) escaped."""
    text = str(value)
    return "".join(
        _escape(c) if unicodedata.category(c) in ("Cc", "Cf") and not (keep_newlines and c == "\n") else c for c in text
    )


def say(text: object = "", err: bool = False) -> None:
    """Print a line (or lines) the CLI made, escaping whatever came from outside in it."""
    click.echo(safe(text, keep_newlines=True), err=err)


def fail(message: str, exit_code: int = 1) -> Trouble:
    return Trouble(message, exit_code)


def when(at) -> str:
    """A time as the CLI prints it ("-" for none)."""
    return format_time(at) if at else "-"


def echo_json(value) -> None:
    say(jsonio.dumps(value, indent=2))
