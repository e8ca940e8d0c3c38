"""marshmallow schemas: bytes <-> plain objects, no I/O."""
