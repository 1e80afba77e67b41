"""sessions: user_account.session_version (sessions that end on the server)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:00:00+00:00

Every existing session cookie names only the user id, which the new user loader refuses: after this
upgrade everyone signs in once more.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('session_version')
