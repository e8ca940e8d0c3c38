"""Start Flower behind basic auth from FLOWER_BASIC_AUTH; refuse to start without it.

Flower reads FLOWER_BASIC_AUTH from the environment itself, so the password never shows in
the process list.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    auth = os.environ.get("FLOWER_BASIC_AUTH", "")
    if ":" not in auth or auth.startswith(":") or auth.endswith(":"):
        sys.exit("configuration error: FLOWER_BASIC_AUTH: is required as user:password")
    port = os.environ.get("FLOWER_PORT", "5555")
    address = os.environ.get("FLOWER_ADDRESS", "127.0.0.1")
    os.execvp("celery", ["celery", "-A", "workers", "flower", f"--port={port}", f"--address={address}",
                         "--purge_offline_workers=60"])


if __name__ == "__main__":
    main()
