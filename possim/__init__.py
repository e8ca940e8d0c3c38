"""The POS simulator: serves the REST POS contract of pos-api.md, with knobs.

``possim.app.create_app(token)`` builds the Flask app; ``python -m possim`` serves it with
gevent. This module imports nothing, so ``python -m possim`` can monkey-patch first.
"""
