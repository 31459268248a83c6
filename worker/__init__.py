"""Celery app, thin tasks, and the training code (worker.training) they call."""
