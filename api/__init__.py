"""The HTTP API (FastAPI). Imports core only; never torch."""
