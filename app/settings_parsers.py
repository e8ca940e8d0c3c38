"""The parsers of the settings table (app/settings.py): str -> value, ValueError(problem) when
malformed. A problem never echoes a secret's value."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse


def text(value: str) -> str:
    return value


def whole(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}")
        return number
    return parse


def number(allow_zero: bool = False) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
        if not (0 <= result if allow_zero else 0 < result) or result == float("inf"):
            raise ValueError(f"must be a finite number {'of at least' if allow_zero else 'greater than'} 0, "
                             f"got {value!r}")
        return result
    return parse


def boolean(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def url(*schemes: str, strip_slash: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
            raise ValueError(f"must be a {'/'.join(schemes)} URL")
        return value.rstrip("/") if strip_slash else value
    return parse


def choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return value.lower()
    return parse


def secret(min_length: int = 1) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) < min_length:
            raise ValueError(f"must be at least {min_length} characters")  # never echo a secret
        return value
    return parse


def user_password(value: str) -> str:
    user, _, password = value.partition(":")
    if not user or not password:
        raise ValueError("must be user:password")
    return value


def pem_public_key(value: str) -> str:
    if "BEGIN PUBLIC KEY" not in value:
        raise ValueError("must be a PEM public key")
    return value


def sentinels(value: str) -> str:
    """REDIS_SENTINELS checked, kept as written (Settings.sentinel_hosts gives the pairs)."""
    host_ports(value)
    return value.strip()


def host_ports(value: str) -> tuple[tuple[str, int], ...]:
    found = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"must be host:port[,host:port...], got {part!r}")
        found.append((host.strip("[]"), int(port)))
    if not found:
        raise ValueError("must name at least one host:port")
    return tuple(found)


def port_or_off(value: str) -> int | None:
    if value.strip().lower() in ("0", "off"):
        return None
    return whole(1, 65535)(value.strip())


def pairs(value: str) -> dict[str, str]:
    """`a=b,c=d` as {"a": "b", "c": "d"} (SQUARE_LOCATION_MAP)."""
    out = {}
    for part in value.split(","):
        if part.strip():
            key, _, mapped = part.partition("=")
            if not key.strip() or not mapped.strip():
                raise ValueError(f"{part.strip()!r} is not name=value (a comma-separated list of them)")
            out[key.strip()] = mapped.strip()
    return out
