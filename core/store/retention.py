"""Which trained weights the artifact store keeps (ACTLAB_KEEP_WEIGHTS): a policy over the
runs' rows, apart from the stores themselves (core/store/artifacts.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.domain.metrics import BEST_VAL_ACCURACY
from core.domain.status import RunStatus
from core.store.artifacts import ArtifactStore, weights_key
from core.store.models import Run


def prune_weights(session: Session, store: ArtifactStore, experiment_id: uuid.UUID) -> None:
    """ACTLAB_KEEP_WEIGHTS=best: keep the weights of the experiment's run with the highest
    best-validation accuracy (the earliest seed on ties), delete the others'."""
    runs = session.scalars(select(Run).where(Run.experiment_id == experiment_id,
                                             Run.status == RunStatus.succeeded,
                                             Run.reused_from.is_(None))).all()

    def score(run: Run) -> tuple[float, int]:
        value = (run.final_metrics or {}).get(BEST_VAL_ACCURACY)
        return (value if value is not None else -1.0, -run.seed)

    if not runs:
        return
    best = max(runs, key=score)
    for run in runs:
        if run.id != best.id:
            store.delete(weights_key(run.id))
