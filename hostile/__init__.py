"""The standing hostile-input run against the live stack (docs/SECURITY.md): `python -m hostile`."""
