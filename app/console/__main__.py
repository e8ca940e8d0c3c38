"""`python -m app.console`: the Procfile's `console` process (app/console/server.py)."""

from app.console.server import main

main()
