"""Removing what is no longer wanted: an experiment with its runs, rows and artifacts."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from core.store.artifacts import ArtifactStore, run_artifact_keys
from core.store.lifecycle import IllegalTransition
from core.store.models import Experiment

log = logging.getLogger("actlab.api")


def delete_experiment(session: Session, experiment: Experiment, store: ArtifactStore) -> int:
    """Delete the experiment, its runs and every row of theirs (one transaction), then their
    checkpoints and weights. Refused (409) while a run is queued or running: cancel first.
    Runs elsewhere that reused these results keep their rows (their `reused_from` is
    cleared). Returns the number of runs removed."""
    active = [r for r in experiment.runs if not r.status.finished]
    if active:
        raise IllegalTransition(f"experiment {experiment.id} has {len(active)} queued or running "
                                f"run(s); cancel it first (POST .../cancel)")
    run_ids = [r.id for r in experiment.runs]
    session.delete(experiment)
    session.commit()
    for key in run_artifact_keys(run_ids):
        try:
            store.delete(key)
        except Exception:  # the rows are gone; an orphan object is only space
            log.warning("could not delete artifact %s", key, exc_info=True)
    return len(run_ids)
