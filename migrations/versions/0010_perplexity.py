"""epoch_metrics: val_perplexity and test_perplexity (language-model datasets)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("val_perplexity", "test_perplexity")


def upgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
