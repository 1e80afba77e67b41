"""The Alembic history builds the schema the models describe, on SQLite and on PostgreSQL.

Each check upgrades a fresh, empty database to head with Flask-Migrate (as ``flask db upgrade`` does)
and compares it with ``models`` through Alembic's autogenerate, which must find nothing to do.
The PostgreSQL variant runs when TEST_DATABASE_URL is set, in a database of its own created next to it.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import IntegrityError

from admin_app import create_app
from admin_app.config import normalise_database_url
from admin_app.extensions import db
from models import Base

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")

DIALECTS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL.startswith("postgres"), reason="TEST_DATABASE_URL does not point to PostgreSQL")),
]


@contextmanager
def empty_database(dialect: str, tmp_path: Path):
    """The URL of a brand-new empty database of the given dialect, dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    base = make_url(normalise_database_url(PG_URL))
    name = f"{base.database}_mig_{os.getpid()}"
    server = create_engine(base, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@contextmanager
def migrated(dialect: str, tmp_path: Path):
    """An app context on an empty database upgraded to head."""
    with empty_database(dialect, tmp_path) as url:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            assert inspect(db.engine).get_table_names() == [], "the database must start empty"
            flask_migrate.upgrade()
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def _named_checks(table) -> set[str]:
    return {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint" and c.name}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_head_matches_the_models(dialect, tmp_path):
    with migrated(dialect, tmp_path):
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
            head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
            assert context.get_current_revision() == head
        assert differences == [], "models and migration head differ; run `make migration`"

        # Autogenerate does not compare CHECK constraints: every named one must exist too.
        inspector = inspect(db.engine)
        for table in Base.metadata.sorted_tables:
            expected = _named_checks(table)
            present = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert expected <= present, f"{table.name}: missing CHECK constraints {expected - present}"
        assert "ck_region_level_valid" in {c["name"] for c in inspector.get_check_constraints("region")}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_migrated_database_enforces_enum_checks(dialect, tmp_path):
    with migrated(dialect, tmp_path):
        insert = text("INSERT INTO region (code, name, level, path, version) "
                      "VALUES ('431300000000', '娄底市', :level, '431300000000/', 1)")
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(insert, {"level": "galaxy"})
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM region")).scalar() == 0
            conn.execute(insert, {"level": "city"})
            assert conn.execute(text("SELECT count(*) FROM region")).scalar() == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_downgrade_to_base_removes_every_table(dialect, tmp_path):
    with migrated(dialect, tmp_path):
        assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
        flask_migrate.downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


@pytest.mark.skipif(not PG_URL.startswith("postgres"), reason="TEST_DATABASE_URL does not point to PostgreSQL")
def test_region_path_index_supports_prefix_search_on_postgresql(tmp_path):
    with migrated("postgresql", tmp_path):
        with db.engine.connect() as conn:
            indexdef = conn.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'region' AND indexname = 'ix_region_path'"
            )).scalar()
    assert indexdef is not None and "text_pattern_ops" in indexdef


def test_history_is_one_linear_line_of_date_prefixed_revisions():
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1
    files = sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py"))
    assert files, "no revision files"
    for name in files:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\w+\.py", name), name
    initial = [rev for rev in script.walk_revisions() if rev.down_revision is None]
    assert len(initial) == 1
    source = Path(initial[0].path).read_text(encoding="utf-8")
    assert "batch_alter_table" in source, "SQLite batch mode (render_as_batch) must be on"
