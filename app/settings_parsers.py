"""The parsers of the settings table (app/settings.py): str -> value, ValueError(problem) when
malformed. A problem never echoes a secret's value."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlparse


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
        if not (result >= 0 if allow_zero else result > 0) or result == float("inf"):
            raise ValueError(
                f"must be a finite number {'of at least' if allow_zero else 'greater than'} 0, got {value!r}"
            )
        return result

    return parse


def boolean(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


# Every value the repository ever documented as an example secret (.env.example, the settings
# table's `example`s, ./dev serve's old DEV_DEFAULTS; `git log -p -S<value>` finds each): anyone
# who read the repository knows them, so no process takes one as a secret.
DOCUMENTED_EXAMPLES = frozenset(
    {
        "dev-pos-token",
        "change-me-pos-token",
        "devshared0123456789",
        "change-me-shared-id",
        "dev-jwt-secret-change-me-0123456789",
        "dev-jwt-secret-change-me",
        "change-me-jwt-secret",
        "oncall:change-me-flower-password",
        "change-me-flower-password",
        "change-me-redis-password",
        "change-me-grafana",
    }
)
PASSWORD_MIN = 16  # a password we choose (Flower's, Redis's, Grafana's)
HS256_KEY_BYTES = 32  # RFC 7518 3.2: an HMAC key of at least the hash's size


def _not_an_example(value: str, key_chars: int | None = None) -> None:
    known = value in DOCUMENTED_EXAMPLES or (
        key_chars is not None and any(value[:key_chars] == e[:key_chars] for e in DOCUMENTED_EXAMPLES)
    )
    if known:
        raise ValueError(
            "is a value the repository documents as an example, so public: make your own (.env.example says how)"
        )


def url(*schemes: str, strip_slash: bool = False, password_min: int = 0) -> Callable[[str], str]:
    """A URL of one of `schemes`; a password in it must be at least `password_min` characters and
    no documented example."""

    def parse(value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
            raise ValueError(f"must be a {'/'.join(schemes)} URL")
        if password_min and parsed.password is not None:
            _not_an_example(unquote(parsed.password))
            if len(unquote(parsed.password)) < password_min:
                raise ValueError(f"its password must be at least {password_min} characters")
        return value.rstrip("/") if strip_slash else value

    return parse


def choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return value.lower()

    return parse


def secret(min_length: int = 1, *, min_bytes: int = 0, key_chars: int | None = None) -> Callable[[str], str]:
    """A secret: no documented example (nor, with `key_chars`, one whose first `key_chars`
    characters are an example's: they alone are the key), at least `min_length` characters and
    `min_bytes` bytes of UTF-8. A problem never echoes the value."""

    def parse(value: str) -> str:
        _not_an_example(value, key_chars)
        if len(value) < min_length:
            raise ValueError(f"must be at least {min_length} characters")
        if len(value.encode("utf-8")) < min_bytes:
            raise ValueError(f"must be at least {min_bytes} bytes")
        return value

    return parse


def user_password(value: str) -> str:
    user, _, password = value.partition(":")
    if not user or not password:
        raise ValueError("must be user:password")
    _not_an_example(value)
    _not_an_example(password)
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"the password must be at least {PASSWORD_MIN} characters")
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
