"""activation parameter values as double precision[] on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Distributions over channels, seeds and epochs are computed in SQL with unnest(); JSON arrays
made PostgreSQL (and the API) parse text for every row. SQLite keeps JSON: nothing to do.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # USING cannot hold a subquery; a session-local function can.
    op.execute("""
        CREATE FUNCTION pg_temp.actlab_json_to_float8(j json) RETURNS double precision[]
        LANGUAGE sql IMMUTABLE AS
        $$ SELECT coalesce(array_agg(e::double precision), '{}')
           FROM json_array_elements_text(j) AS e $$
    """)
    op.execute('ALTER TABLE activation_params ALTER COLUMN "values" '
               'TYPE double precision[] USING pg_temp.actlab_json_to_float8("values")')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('ALTER TABLE activation_params ALTER COLUMN "values" '
               'TYPE json USING to_json("values")')
