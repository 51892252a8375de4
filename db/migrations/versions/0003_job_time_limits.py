"""jobs.soft_time_limit_s, jobs.hard_time_limit_s: each job carries its own time limits

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("soft_time_limit_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("hard_time_limit_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("hard_time_limit_s")
        batch_op.drop_column("soft_time_limit_s")
