"""Alembic migrations of actlab's database (run with `actlab migrate`)."""
