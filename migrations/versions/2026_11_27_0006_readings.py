"""readings: every reading of a person's name in name_pinyin / name_initials

Names were indexed with one reading (曾海燕 as "cenghaiyan" / "chy"); a clerk typing the surname reading
("zhy") found nobody. The columns now hold every reading a person might type, space-separated, the usual
one first (``models.people.name_pinyin``). No schema change: this recomputes the stored readings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 16:00:00+00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BATCH = 1000

person = sa.table(
    'person',
    sa.column('id', sa.Integer),
    sa.column('name', sa.String),
    sa.column('name_pinyin', sa.String),
    sa.column('name_initials', sa.String),
)


def _rewrite(compute) -> None:
    """Set both columns of every person row to ``compute(name, pinyin, initials)``, in batches."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(person.c.id, person.c.name, person.c.name_pinyin, person.c.name_initials)
            .where(person.c.id > last).order_by(person.c.id).limit(BATCH)).all()
        if not rows:
            return
        changes = []
        for ident, name, full, initials in rows:
            new_full, new_initials = compute(name or "", full or "", initials or "")
            if (new_full, new_initials) != (full, initials):
                changes.append({"ident": ident, "full": new_full, "initials": new_initials})
        if changes:
            bind.execute(
                person.update().where(person.c.id == sa.bindparam("ident"))
                .values(name_pinyin=sa.bindparam("full"), name_initials=sa.bindparam("initials")),
                changes)
        last = rows[-1][0]


def upgrade():
    # The application's own function: readings are data derived from the name, and this revision's job is
    # to make stored rows agree with what saving the name today computes.
    from models.people import name_pinyin

    _rewrite(lambda name, _full, _initials: name_pinyin(name))


def downgrade():
    # The earlier format held one reading: keep the usual (first) one.
    _rewrite(lambda _name, full, initials: (full.split(" ")[0] if full else "",
                                            initials.split(" ")[0] if initials else ""))
