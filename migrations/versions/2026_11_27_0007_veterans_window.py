"""veterans window: service records as work (window, handler, due date, follow-ups) and 户籍迁入

* ``service_record``: ``window_id`` (服务窗口), ``handler_id`` (a staff person, picked), ``due_on``,
  ``closed_on``, ``parent_id`` (the record it follows up); status gains ``in_progress`` (办理中).
  The free-text ``handler`` becomes ``handler_note`` (the old text is kept, read-only), and each record
  whose text is the name of exactly one person holding a post in the record's township (or its
  villages) is linked to that person. Open records get a due date (受理 + 15 days, 返乡报到 + 7);
  records closed before this revision keep no closing date (it was never recorded).
* ``transfer``: 户籍迁入 requests between townships.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 17:00:00+00:00

"""
import datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('open', 'done', 'referred')"
NEW_STATUSES = "status IN ('open', 'in_progress', 'done', 'referred')"
DUE_DAYS = {'report_home': 7}
DEFAULT_DUE_DAYS = 15
BATCH = 1000


def upgrade():
    with op.batch_alter_table('service_record', schema=None) as batch_op:
        batch_op.alter_column('handler', new_column_name='handler_note', existing_type=sa.String(length=40),
                              existing_nullable=True)
        batch_op.add_column(sa.Column('window_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('handler_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f('ck_service_record_status_valid'), type_='check')
        batch_op.alter_column('status', existing_type=sa.String(length=8), type_=sa.String(length=11),
                              existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_service_record_status_valid'), NEW_STATUSES)
        batch_op.create_index(batch_op.f('ix_service_record_window_id'), ['window_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_record_handler_id'), ['handler_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_record_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_record_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_service_record_window_id_service_window'), 'service_window',
                                    ['window_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_service_record_handler_id_person'), 'person',
                                    ['handler_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_service_record_parent_id_service_record'), 'service_record',
                                    ['parent_id'], ['id'], ondelete='SET NULL')

    # The typed handler name → the one staff person of the record's township with that name (plain SQL:
    # runs on both databases); a name matching nobody or several people stays text only.
    staff = """
        FROM person p
        JOIN appointment a ON a.person_id = p.id
        JOIN post ON post.id = a.post_id
        JOIN region r ON r.id = post.region_id
        JOIN region t ON t.id = service_record.township_id
        WHERE p.name = service_record.handler_note AND r.path LIKE t.path || '%'
    """
    op.execute(f"""
        UPDATE service_record SET handler_id = (SELECT MIN(p.id) {staff})
        WHERE handler_note IS NOT NULL AND (SELECT COUNT(DISTINCT p.id) {staff}) = 1
    """)

    # Due dates of open records (date arithmetic differs between the databases: done here).
    conn = op.get_bind()
    record = sa.table('service_record', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('served_on', sa.Date), sa.column('status', sa.String),
                      sa.column('due_on', sa.Date))
    rows = conn.execute(sa.select(record.c.id, record.c.kind, record.c.served_on)
                        .where(record.c.status == 'open')).all()
    update = record.update().where(record.c.id == sa.bindparam('rid')).values(due_on=sa.bindparam('due'))
    for start in range(0, len(rows), BATCH):
        batch = []
        for rid, kind, served in rows[start:start + BATCH]:
            if isinstance(served, str):
                served = datetime.date.fromisoformat(served[:10])
            batch.append({'rid': rid, 'due': served + datetime.timedelta(days=DUE_DAYS.get(kind, DEFAULT_DUE_DAYS))})
        conn.execute(update, batch)

    op.create_table('transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('from_township_id', sa.Integer(), nullable=False),
    sa.Column('to_township_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("status IN ('pending', 'done', 'refused')", name=op.f('ck_transfer_status_valid')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_transfer_person_id_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_township_id'], ['region.id'], name=op.f('fk_transfer_from_township_id_region')),
    sa.ForeignKeyConstraint(['to_township_id'], ['region.id'], name=op.f('fk_transfer_to_township_id_region')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_transfer_requested_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_transfer_decided_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer'))
    )
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_from_township_id'), ['from_township_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_to_township_id'), ['to_township_id'], unique=False)


def downgrade():
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_to_township_id'))
        batch_op.drop_index(batch_op.f('ix_transfer_from_township_id'))
        batch_op.drop_index(batch_op.f('ix_transfer_person_id'))
    op.drop_table('transfer')

    # 办理中 has no place in the old statuses: such records are open (受理中) again.
    op.execute("UPDATE service_record SET status = 'open' WHERE status = 'in_progress'")
    # A picked handler without the old text keeps its name as text.
    op.execute("""
        UPDATE service_record SET handler_note = (SELECT name FROM person WHERE person.id = service_record.handler_id)
        WHERE handler_note IS NULL AND handler_id IS NOT NULL
    """)
    with op.batch_alter_table('service_record', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_service_record_parent_id_service_record'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_service_record_handler_id_person'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_service_record_window_id_service_window'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_service_record_parent_id'))
        batch_op.drop_index(batch_op.f('ix_service_record_due_on'))
        batch_op.drop_index(batch_op.f('ix_service_record_handler_id'))
        batch_op.drop_index(batch_op.f('ix_service_record_window_id'))
        batch_op.drop_constraint(op.f('ck_service_record_status_valid'), type_='check')
        batch_op.alter_column('status', existing_type=sa.String(length=11), type_=sa.String(length=8),
                              existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_service_record_status_valid'), OLD_STATUSES)
        batch_op.drop_column('parent_id')
        batch_op.drop_column('closed_on')
        batch_op.drop_column('due_on')
        batch_op.drop_column('handler_id')
        batch_op.drop_column('window_id')
        batch_op.alter_column('handler_note', new_column_name='handler', existing_type=sa.String(length=40),
                              existing_nullable=True)
