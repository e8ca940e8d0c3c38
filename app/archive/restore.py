"""An archived order back in Redis, for what only Redis can do: a callback replay (its
delivery is a move in Redis's schedule, claimed and settled there). The record and history go
back as they were archived, the order's indexes at its score, for what is left of the
retention; the archive keeps its row, so the order is in both places until the mover moves it
again (its row then brought up to date: same final, a longer history)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from app.archive import scripts
from app.orders.keys import ALL_KEY, location_key

if TYPE_CHECKING:
    from app.orders.store import OrderStore


def restore(store: OrderStore, uid: str) -> bool:
    """Put the archived order `uid` back in Redis unless Redis has a record of it. False when
    the archive has none (ArchiveUnavailable when it cannot answer)."""
    if store.archive is None:
        return False  # no archive: nothing to bring back
    row = store.archive.get(uid)
    if row is None:
        return False
    ttl = int(row.created + store.retention - time.time())
    if ttl <= 0:
        return False  # past its retention: as good as gone
    fields = [item for name, value in row.record.items() for item in (name, value)]
    script = store.redis.register_script(scripts.RESTORE)
    script(
        keys=[
            f"order:{uid}",
            f"order:{uid}:history",
            ALL_KEY,
            location_key(row.location),
            location_key(row.location, row.status),
        ],
        args=[uid, ttl, repr(row.created), len(row.record), *fields, *row.history],
    )
    return True
