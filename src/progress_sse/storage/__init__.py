"""Databases: engines, sessions, migrations and dialect-aware SQL helpers."""
