"""write gate: the city's post catalogue (post_type) and the actor of each audit entry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00+00:00

* ``post_type``: 编制数 and the required qualification move from each township's post (where a clerk
  could clear them) to the city's catalogue. Existing posts get a type per distinct title; a type's
  headcount is the most posts of that title any one region had (sum of their old headcounts) and its
  qualification the one any post of that title required.
* ``audit_log.actor``: who acted, also for system actors (seed, first account); ``action`` widens to
  hold "restore" and "bulk-delete".
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('post_type',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('side', sa.String(length=15), nullable=False),
    sa.Column('headcount', sa.Integer(), nullable=False),
    sa.Column('required_qualification', sa.String(length=9), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("required_qualification IS NULL OR required_qualification IN ('paf_cadre', 'other')", name=op.f('ck_post_type_required_qualification_valid')),
    sa.CheckConstraint("side IN ('armed_forces', 'station', 'village_station', 'militia')", name=op.f('ck_post_type_side_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post_type')),
    sa.UniqueConstraint('title', name=op.f('uq_post_type_title'))
    )
    # One catalogue entry per distinct post title, from the data (plain SQL: runs on both databases).
    op.execute("""
        INSERT INTO post_type (title, side, headcount, required_qualification, sort_order, version)
        SELECT title, MIN(side), MAX(per_region), MAX(required_qualification), MIN(sort_order), 1
        FROM (SELECT title, side, region_id, SUM(headcount) AS per_region,
                     MAX(required_qualification) AS required_qualification, MIN(sort_order) AS sort_order
              FROM post GROUP BY title, side, region_id) AS per_region_posts
        GROUP BY title
    """)
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.add_column(sa.Column('post_type_id', sa.Integer(), nullable=True))
    op.execute("UPDATE post SET post_type_id = (SELECT id FROM post_type WHERE post_type.title = post.title)")
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.alter_column('post_type_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_post_post_type_id'), ['post_type_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_post_post_type_id_post_type'), 'post_type', ['post_type_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_post_required_qualification_valid'), type_='check')
        batch_op.drop_column('required_qualification')
        batch_op.drop_column('headcount')

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=60), nullable=True))
        batch_op.alter_column('action', existing_type=sa.String(length=10), type_=sa.String(length=20),
                              existing_nullable=False)
    op.execute("UPDATE audit_log SET actor = (SELECT username FROM user_account WHERE user_account.id = audit_log.user_id)")


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('action', existing_type=sa.String(length=20), type_=sa.String(length=10),
                              existing_nullable=False)
        batch_op.drop_column('actor')

    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headcount', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('required_qualification', sa.String(length=9), nullable=True))
    op.execute("UPDATE post SET required_qualification = "
               "(SELECT required_qualification FROM post_type WHERE post_type.id = post.post_type_id)")
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_post_required_qualification_valid'),
            "required_qualification IS NULL OR required_qualification IN ('paf_cadre', 'other')")
        batch_op.drop_constraint(batch_op.f('fk_post_post_type_id_post_type'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_post_post_type_id'))
        batch_op.drop_column('post_type_id')

    op.drop_table('post_type')
