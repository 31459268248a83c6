"""activation sparsity: epoch_metrics.val_sparsity and the per-slot table slot_sparsity

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.add_column(sa.Column("val_sparsity", sa.Double(), nullable=True))
    op.create_table(
        "slot_sparsity",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=200), nullable=False),
        sa.Column("zero_fraction", sa.Double(), nullable=False),
        sa.Column("small_fraction", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"],
                                name=op.f("fk_slot_sparsity_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "epoch", "layer", name=op.f("pk_slot_sparsity")),
    )


def downgrade() -> None:
    op.drop_table("slot_sparsity")
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.drop_column("val_sparsity")
