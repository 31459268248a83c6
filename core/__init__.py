"""Shared by the API and the worker: settings, database, ORM models, the experiment spec."""
