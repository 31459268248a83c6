"""Shared by the API and the worker: settings, database, ORM models, the experiment spec."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("actlab")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.0.0+unknown"

# The HTTP API's version (its paths are /api/v1/...); /health says it, clients check it.
API_VERSION = 1
