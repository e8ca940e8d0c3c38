"""Orders: the rules (pure), the records, the store, the POS step and the service."""
