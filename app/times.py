"""Time parsing and formatting in PAR's format, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

PAR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Times outside these years are refused as not parsing: none is an order's, and a time near
# datetime's own limits overflows in a zone shift or when a ttl or horizon is added to it.
YEARS = range(1970, 9999)


def parse_time(text: object) -> datetime | None:
    """An aware UTC datetime from PAR's format or any ISO 8601 time with a zone; else None."""
    if not isinstance(text, str) or not 10 < len(text) < 64:
        return None
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None or "T" not in candidate.upper() or parsed.year not in YEARS:
        return None
    return parsed.astimezone(UTC)


def format_time(moment: datetime | float) -> str:
    """PAR's `yyyy-MM-ddTHH:mm:ss.fffZ` for a datetime or a Unix time."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(float(moment), UTC)  # a Unix time read back from JSON is a Decimal
    return moment.astimezone(UTC).strftime(PAR_FORMAT)[:-4] + "Z"
