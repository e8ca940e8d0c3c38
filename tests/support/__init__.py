"""Test doubles and helpers shared by the unit and integration layers."""
