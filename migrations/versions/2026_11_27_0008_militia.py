"""militia: units as rows, the reorganisation status, age limits per city, 军事素养 rating, village roles

* ``militia_unit`` (连/排/班/应急分队 per township and year, leader, planned size, parent unit); the free-text
  ``militia_membership.unit_name`` becomes a link: one unit per distinct (township, year, trimmed name),
  each membership linked to it;
* ``militia_membership.status`` (待确认/已确认; existing rows are confirmed), ``fit``, ``review_note``;
* ``militia_settings``: the city's militia age limits (none yet: the defaults apply);
* ``veteran_profile.military_rating``, read from the free-text ``military_quality`` where it names a grade;
* ``post_type.village_role`` (rule 3) and ``print_settings.show_rooms`` (rooms and windows on the chart).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 16:00:00+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

RATINGS = (('excellent', '优秀'), ('good', '良好'), ('pass', '合格'), ('fail', '不合格'))


def _timestamps():
    return [
        sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
        sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    ]


def upgrade():
    op.create_table('militia_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_id', sa.Integer(), nullable=False),
    sa.Column('min_age', sa.Integer(), nullable=False),
    sa.Column('max_age', sa.Integer(), nullable=False),
    sa.Column('core_max_age', sa.Integer(), nullable=False),
    sa.Column('veteran_core_max_age', sa.Integer(), nullable=False),
    *_timestamps(),
    sa.ForeignKeyConstraint(['city_id'], ['region.id'], name=op.f('fk_militia_settings_city_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_militia_settings')),
    sa.UniqueConstraint('city_id', name=op.f('uq_militia_settings_city_id'))
    )
    op.create_table('militia_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('planned_size', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    *_timestamps(),
    sa.CheckConstraint("kind IN ('company', 'platoon', 'squad', 'emergency')", name=op.f('ck_militia_unit_kind_valid')),
    sa.ForeignKeyConstraint(['leader_id'], ['person.id'], name=op.f('fk_militia_unit_leader_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['militia_unit.id'], name=op.f('fk_militia_unit_parent_id_militia_unit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['township_id'], ['region.id'], name=op.f('fk_militia_unit_township_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_militia_unit')),
    sa.UniqueConstraint('township_id', 'year', 'name', name='uq_militia_unit_township_id')
    )
    with op.batch_alter_table('militia_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_militia_unit_leader_id'), ['leader_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_militia_unit_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_militia_unit_township_id'), ['township_id'], unique=False)

    # One unit per distinct (township, year, trimmed name); its kind from the members (plain SQL: both databases).
    op.execute("""
        INSERT INTO militia_unit (township_id, year, kind, name, sort_order, version)
        SELECT township_id, year, MIN(unit_type), TRIM(unit_name), 0, 1
        FROM militia_membership
        WHERE unit_name IS NOT NULL AND TRIM(unit_name) <> ''
        GROUP BY township_id, year, TRIM(unit_name)
    """)
    with op.batch_alter_table('militia_membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=9), server_default='confirmed', nullable=False))
        batch_op.add_column(sa.Column('fit', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('review_note', sa.String(length=200), nullable=True))
    op.execute("""
        UPDATE militia_membership SET unit_id = (
            SELECT u.id FROM militia_unit u
            WHERE u.township_id = militia_membership.township_id AND u.year = militia_membership.year
              AND u.name = TRIM(militia_membership.unit_name))
        WHERE unit_name IS NOT NULL AND TRIM(unit_name) <> ''
    """)
    with op.batch_alter_table('militia_membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_militia_membership_unit_id'), ['unit_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_militia_membership_unit_id_militia_unit'), 'militia_unit',
                                    ['unit_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_militia_membership_status_valid'),
                                         "status IN ('pending', 'confirmed')")
        batch_op.drop_column('unit_name')

    with op.batch_alter_table('veteran_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('military_rating', sa.String(length=9), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_veteran_profile_military_rating_valid'),
            "military_rating IS NULL OR military_rating IN ('excellent', 'good', 'pass', 'fail')")
    # 不合格 before 合格: the text "不合格" also contains "合格".
    for value, label in (RATINGS[3], RATINGS[0], RATINGS[1], RATINGS[2]):
        op.execute(sa.text("UPDATE veteran_profile SET military_rating = :value "
                           "WHERE military_rating IS NULL AND military_quality LIKE :pattern")
                   .bindparams(value=value, pattern=f"%{label}%"))

    with op.batch_alter_table('post_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('village_role', sa.String(length=15), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_post_type_village_role_valid'),
            "village_role IS NULL OR village_role IN "
            "('party_head', 'station_head', 'station_officer', 'militia_leader')")

    with op.batch_alter_table('print_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('show_rooms', sa.Boolean(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('print_settings', schema=None) as batch_op:
        batch_op.drop_column('show_rooms')

    with op.batch_alter_table('post_type', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_post_type_village_role_valid'), type_='check')
        batch_op.drop_column('village_role')

    for value, label in RATINGS:
        op.execute(sa.text("UPDATE veteran_profile SET military_quality = :label "
                           "WHERE military_quality IS NULL AND military_rating = :value")
                   .bindparams(value=value, label=label))
    with op.batch_alter_table('veteran_profile', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_veteran_profile_military_rating_valid'), type_='check')
        batch_op.drop_column('military_rating')

    with op.batch_alter_table('militia_membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_name', sa.String(length=60), nullable=True))
    op.execute("UPDATE militia_membership SET unit_name = "
               "(SELECT name FROM militia_unit WHERE militia_unit.id = militia_membership.unit_id)")
    with op.batch_alter_table('militia_membership', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_militia_membership_status_valid'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_militia_membership_unit_id_militia_unit'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_militia_membership_unit_id'))
        batch_op.drop_column('review_note')
        batch_op.drop_column('fit')
        batch_op.drop_column('status')
        batch_op.drop_column('unit_id')

    with op.batch_alter_table('militia_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_militia_unit_township_id'))
        batch_op.drop_index(batch_op.f('ix_militia_unit_parent_id'))
        batch_op.drop_index(batch_op.f('ix_militia_unit_leader_id'))
    op.drop_table('militia_unit')
    op.drop_table('militia_settings')
