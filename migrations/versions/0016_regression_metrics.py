"""Regression metrics: epoch_metrics.train_rmse, val_rmse, test_rmse, val_r2, test_r2

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = ("train_rmse", "val_rmse", "test_rmse", "val_r2", "test_r2")


def upgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
