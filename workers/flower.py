"""Start Flower behind basic auth from FLOWER_BASIC_AUTH; refuse to start without it.

Flower reads FLOWER_BASIC_AUTH from the environment itself, so the password never shows in
the process list. Its port and address come from the settings table (app/settings.py).
"""

from __future__ import annotations

import os
import sys

from app.settings import ConfigError, process_value


def main() -> None:
    try:
        auth = process_value("FLOWER_BASIC_AUTH")
        port, address = process_value("FLOWER_PORT"), process_value("FLOWER_ADDRESS")
    except ConfigError as exc:
        sys.exit(str(exc))
    if auth is None:
        sys.exit("configuration error: FLOWER_BASIC_AUTH: is required as user:password")
    os.execvp("celery", ["celery", "-A", "workers", "flower", f"--port={port}", f"--address={address}",
                         "--purge_offline_workers=60"])


if __name__ == "__main__":
    main()
