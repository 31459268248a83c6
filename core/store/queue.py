"""The broker side shared by API, sweeper and worker: Celery configuration and run notices.

A message only says "run R may start"; the database is the truth (docs/explanation/reliability.md).
Each setting below answers one of Celery's known traps for long GPU runs, named beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from celery import Celery

from core.domain.settings import Settings, get_settings

TRAIN_TASK = "actlab.train_run"
SEARCH_TASK = "actlab.search_step"


def celery_config(settings: Settings) -> dict[str, Any]:
    broker_url = settings.resolved_broker_url()
    transport_options: dict[str, Any]
    if broker_url.startswith(("sqla+", "sqlalchemy+")):
        # kombu's SQLAlchemy transport hands its options to create_engine: only engine options
        # belong here. It has no visibility timeout; the sweeper re-sends lost notices.
        transport_options = {"connect_args": {"timeout": 30}}
    else:
        # Trap "Redis visibility timeout": with acks_late a task running longer than the timeout
        # is delivered again. Keep the timeout above the hard time limit.
        transport_options = {"visibility_timeout": settings.task_time_limit_seconds + 3600}
    return {
        "broker_url": broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        # Trap "result backend": results and state live in our own tables.
        "task_ignore_result": True,
        "result_backend": None,
        # Trap "prefetch": acknowledge after the run, reserve one message at a time.
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        # Trap "worker child killed": give the message back instead of acking it.
        "task_reject_on_worker_lost": True,
        # Trap "connection loss": stop, rather than duplicate, long tasks when the broker drops.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_time_limit": settings.task_time_limit_seconds,
        "task_soft_time_limit": settings.task_time_limit_seconds - 30,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


# How often a worker looks for new notices on the embedded (SQLite) broker, which cannot push
# them: kombu's virtual transports poll once a second by default, so a run waited 0.4-0.7 s
# from queued to started. A query of an indexed table this often costs next to nothing.
EMBEDDED_POLL_SECONDS = 0.1


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    if settings.resolved_broker_url().startswith(("sqla+", "sqlalchemy+")):
        # Not a transport option: that transport hands its options to create_engine.
        from kombu.transport import sqlalchemy as sqla_transport

        sqla_transport.Transport.polling_interval = EMBEDDED_POLL_SECONDS
    app = Celery("actlab")
    app.conf.update(celery_config(settings))
    return app


_CLIENT: dict[str, Celery] = {}


def _client(settings: Settings) -> Celery:
    key = f"{settings.resolved_broker_url()}|{settings.queue}"
    app = _CLIENT.get(key)
    if app is None:
        app = _CLIENT[key] = make_celery(settings)
    return app


def send_run_notices(run_ids: Iterable[uuid.UUID], settings: Settings | None = None,
                     countdown: float | None = None) -> None:
    """Tell workers these runs may start (in `countdown` seconds). Call only after the rows
    are committed."""
    settings = settings or get_settings()
    app = _client(settings)
    for run_id in run_ids:
        app.send_task(TRAIN_TASK, args=[str(run_id)], queue=settings.queue,
                      countdown=countdown)


def send_search_notices(search_ids: Iterable[uuid.UUID],
                        settings: Settings | None = None) -> None:
    """Tell workers these searches may take a driver step (worker/search/driver.py)."""
    settings = settings or get_settings()
    app = _client(settings)
    for search_id in search_ids:
        app.send_task(SEARCH_TASK, args=[str(search_id)], queue=settings.queue)


def broker_reachable(settings: Settings | None = None, timeout: float = 2.0) -> bool:
    settings = settings or get_settings()
    app = _client(settings)
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False


def reset_clients() -> None:
    for app in _CLIENT.values():
        app.close()
    _CLIENT.clear()
