"""segmentation metrics: mean IoU on the validation and test splits

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Null for classification datasets and for every run trained before.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.add_column(sa.Column("val_miou", sa.Double(), nullable=True))
        batch.add_column(sa.Column("test_miou", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.drop_column("test_miou")
        batch.drop_column("val_miou")
