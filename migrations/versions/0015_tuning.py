"""equal tuning budgets: sweeps.tuning and sweeps.tuning_finished, experiments.role

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("tuning", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("tuning_finished", sa.Boolean(), nullable=True))
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False,
                                   server_default="evaluation"))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("tuning_finished")
        batch.drop_column("tuning")
