"""POS adapters: one interface (base.py), one module per POS vendor's API."""
