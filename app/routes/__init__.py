"""Thin views: authentication, parsing, status codes. No business rules here."""
