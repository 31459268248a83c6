"""three splits: test_* metrics, recipe version, activation MACs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Until now `val_*` was measured on the official test split (mnist1d, MNIST, CIFAR: the default
val_fraction 0) or on the only held-out split (digits, synthetic), and "best epoch" was chosen
by it. Those numbers are test numbers: they move to `test_*`, `val_*` becomes NULL (those runs
had no validation split), and their best epoch is cleared, since it was selected on the test
split. Their experiments are marked recipe version 1, so they are never compared with, or
reused for, recipes trained with a validation split.
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPLIT_METRICS = ("loss", "accuracy", "top5")


def _rename_final_metrics(source: str, target: str, clear_best: bool) -> None:
    """runs.final_metrics (JSON): `{source}_*` keys become `{target}_*` (a key already there
    wins); `clear_best` drops the best epoch chosen on the test split."""
    bind = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.Uuid()), sa.column("final_metrics", sa.JSON()),
                    sa.column("best_epoch", sa.Integer()))
    for run_id, metrics in bind.execute(sa.select(runs.c.id, runs.c.final_metrics)
                                        .where(runs.c.final_metrics.is_not(None))).all():
        if isinstance(metrics, str):
            metrics = json.loads(metrics)
        renamed = {}
        for key, value in metrics.items():
            if key == "best_val_accuracy":
                continue  # selected on the test split: not a validation number
            if key.startswith(f"{source}_"):
                key = f"{target}_{key[len(source) + 1:]}"
                if key in metrics:
                    continue
            renamed[key] = value
        values: dict[str, object] = {"final_metrics": renamed}
        if clear_best:
            values["best_epoch"] = None
        bind.execute(runs.update().where(runs.c.id == run_id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        for name in SPLIT_METRICS:
            batch.add_column(sa.Column(f"test_{name}", sa.Double(), nullable=True))
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("recipe_version", sa.Integer(), nullable=False,
                                   server_default="2"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("activation_macs", sa.BigInteger(), nullable=True))
    op.execute("UPDATE experiments SET recipe_version = 1")
    moves = ", ".join(f"test_{n} = val_{n}, val_{n} = NULL" for n in SPLIT_METRICS)
    op.execute(f"UPDATE epoch_metrics SET {moves}")
    _rename_final_metrics("val", "test", clear_best=True)


def downgrade() -> None:
    moves = ", ".join(f"val_{n} = coalesce(val_{n}, test_{n})" for n in SPLIT_METRICS)
    op.execute(f"UPDATE epoch_metrics SET {moves}")
    _rename_final_metrics("test", "val", clear_best=False)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("activation_macs")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("recipe_version")
    with op.batch_alter_table("epoch_metrics") as batch:
        for name in SPLIT_METRICS:
            batch.drop_column(f"test_{name}")
