"""search: indexed name search at province scale

PostgreSQL: the pg_trgm extension and trigram GIN indexes on person.name / name_pinyin / name_initials
(the last two replace their B-tree indexes, of the same names), and on id_number / phone (whose
fragments the list search also matches for users who may see them), so ``ILIKE '%…%'`` of three or more
characters is an index lookup instead of a scan of every person. Trigrams do not serve one- and
two-character terms (most given names are two characters), so person.search_grams holds every one- and
two-character piece of the name (text[], GIN-indexed; the application keeps it with the name).

Both: person.region_id's index becomes (region_id, id) (scoped lists in id order, deep pages).
SQLite keeps its other indexes; it gets the column (the pieces as a JSON list) and plain indexes on the name,
ID number and phone (the same index names on both databases, so the models describe both).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:00:00+00:00

"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 1000
TRIGRAM_COLUMNS = ('name', 'name_pinyin', 'name_initials', 'id_number', 'phone')
_ASCII_LOWER = str.maketrans('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')

# The pieces of a name in SQL, as models.people.search_grams computes them in Python: ASCII letters
# lower-cased, every substring of one and two characters, distinct, in code point order.
GRAMS_SQL = """
UPDATE person SET search_grams = ARRAY(
    SELECT DISTINCT substr(s.t, i, n) COLLATE "C" AS g
    FROM (SELECT translate(person.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') AS t) s,
         generate_series(1, 2) AS n,
         generate_series(1, char_length(s.t) - n + 1) AS i
    ORDER BY 1)
"""


def _grams(name: str) -> str:
    text = (name or '').translate(_ASCII_LOWER)
    pieces = sorted({text[i:i + n] for n in (1, 2) for i in range(len(text) - n + 1)})
    return json.dumps(pieces, ensure_ascii=False)


def _fill_sqlite() -> None:
    bind = op.get_bind()
    person = sa.table('person', sa.column('id', sa.Integer), sa.column('name', sa.String),
                      sa.column('search_grams', sa.Text))
    last = 0
    while True:
        rows = bind.execute(sa.select(person.c.id, person.c.name).where(person.c.id > last)
                            .order_by(person.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(person.update().where(person.c.id == sa.bindparam('ident'))
                     .values(search_grams=sa.bindparam('grams')),
                     [{'ident': ident, 'grams': _grams(name)} for ident, name in rows])
        last = rows[-1][0]


def _region_index(columns: list[str]) -> None:
    """person.region_id's index: (region_id, id) from this revision on, so a scoped list in id order and
    its deep pages read the index only."""
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_region_id')
        batch_op.create_index('ix_person_region_id', columns, unique=False)


def upgrade():
    _region_index(['region_id', 'id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.add_column('person', sa.Column('search_grams', postgresql.ARRAY(sa.Text()), nullable=False,
                                          server_default='{}'))
        op.execute(GRAMS_SQL)
        op.alter_column('person', 'search_grams', server_default=None)
        op.drop_index('ix_person_name_pinyin', table_name='person')
        op.drop_index('ix_person_name_initials', table_name='person')
        for column in TRIGRAM_COLUMNS:
            op.create_index(f'ix_person_{column}', 'person', [column], unique=False, postgresql_using='gin',
                            postgresql_ops={column: 'gin_trgm_ops'})
        op.create_index('ix_person_search_grams', 'person', ['search_grams'], unique=False,
                        postgresql_using='gin')
        op.execute('ANALYZE person')
        return
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_grams', sa.Text(), nullable=True))
    _fill_sqlite()
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.alter_column('search_grams', existing_type=sa.Text(), nullable=False)
        for column in ('name', 'id_number', 'phone'):
            batch_op.create_index(f'ix_person_{column}', [column], unique=False)
        batch_op.create_index('ix_person_search_grams', ['search_grams'], unique=False)


def downgrade():
    _region_index(['region_id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_person_search_grams', table_name='person')
        for column in TRIGRAM_COLUMNS:
            op.drop_index(f'ix_person_{column}', table_name='person')
        op.create_index('ix_person_name_pinyin', 'person', ['name_pinyin'], unique=False)
        op.create_index('ix_person_name_initials', 'person', ['name_initials'], unique=False)
        op.drop_column('person', 'search_grams')
        return  # pg_trgm stays: dropping an extension other objects may use is the DBA's call
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_search_grams')
        for column in ('name', 'id_number', 'phone'):
            batch_op.drop_index(f'ix_person_{column}')
        batch_op.drop_column('search_grams')
