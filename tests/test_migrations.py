"""The Alembic history builds the schema the models describe, on SQLite and on PostgreSQL.

Each check upgrades a fresh, empty database to head with Flask-Migrate (as ``flask db upgrade`` does)
and compares it with ``models`` through Alembic's autogenerate, which must find nothing to do.
The PostgreSQL variant runs when TEST_DATABASE_URL is set, in a database of its own created next to it.

A released revision is history: a database at the previous release (0001) holding the demo
(``fixtures/demo_at_0001.sql``, dumped from that release) must upgrade to head with its data intact,
and the newest revision must downgrade and upgrade again.
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
from sqlalchemy import create_engine, func, inspect, make_url, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from admin_app import create_app
from admin_app.config import normalise_database_url
from admin_app.extensions import db
from models import Base, Person, Region, User

RELEASED = "0001"  # the previous released revision, the one production databases are at
DEMO_AT_RELEASED = Path(__file__).resolve().parent / "fixtures" / "demo_at_0001.sql"
# Rows of the demo at 0001 in the main tables (what the fixture must hold, and what must survive).
DEMO_COUNTS = {"region": 18, "user_account": 6, "grant": 6, "person": 86, "post": 48, "appointment": 44,
               "veteran_profile": 36, "service_record": 56, "annual_plan": 4, "plan_item": 60, "room": 20}

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")

DIALECTS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL.startswith("postgres"), reason="TEST_DATABASE_URL does not point to PostgreSQL")),
]


@contextmanager
def empty_database(dialect: str, tmp_path: Path, label: str = "mig"):
    """The URL of a brand-new empty database of the given dialect, dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / (label + '.db')}"
        return
    base = make_url(normalise_database_url(PG_URL))
    name = f"{base.database}_{label}_{os.getpid()}"
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


@contextmanager
def at_released_revision_with_demo(dialect: str, tmp_path: Path):
    """An app context on a database upgraded to the released revision and filled with its demo data."""
    with empty_database(dialect, tmp_path) as url:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            flask_migrate.upgrade(revision=RELEASED)
            statements = DEMO_AT_RELEASED.read_text(encoding="utf-8").split(";\n\n")
            with db.engine.begin() as conn:
                for statement in filter(str.strip, statements):
                    conn.exec_driver_sql(statement)
                if conn.dialect.name == "postgresql":  # explicit ids: move each id sequence past them
                    for table in inspect(conn).get_table_names():
                        if table != "alembic_version":
                            conn.execute(text(
                                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                f'(SELECT coalesce(max(id), 0) + 1 FROM "{table}"), false)'))
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def row_counts() -> dict[str, int]:
    with db.engine.connect() as conn:
        return {table: conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar()
                for table in inspect(conn).get_table_names() if table != "alembic_version"}


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def assert_demo_intact(before: dict[str, int]) -> None:
    """Every table of the released schema kept its rows, and the models read them back."""
    after = row_counts()
    assert {t: after.get(t) for t in before} == before
    db.session.expire_all()
    city = db.session.scalar(select(Region).where(Region.code == "431300000000"))
    assert city is not None and city.name == "娄底市" and city.path == "431300000000/"
    assert {r.name for r in db.session.scalars(select(Region).where(Region.parent_id == city.id))} >= {"娄星区"}
    user = db.session.scalar(select(User).where(User.username == "shanshan"))
    assert user.active and check_password_hash(user.password_hash, "yibuyizhan-demo")
    assert db.session.scalar(select(func.count()).select_from(Person)) == DEMO_COUNTS["person"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_upgrade_from_the_released_revision_keeps_the_data(dialect, tmp_path):
    with at_released_revision_with_demo(dialect, tmp_path):
        assert current_revision() == RELEASED
        before = row_counts()
        assert {t: before[t] for t in DEMO_COUNTS} == DEMO_COUNTS  # the fixture holds the demo
        flask_migrate.upgrade()
        assert current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert_demo_intact(before)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_newest_revision_downgrades_and_upgrades_again(dialect, tmp_path):
    newest = ScriptDirectory(str(MIGRATIONS)).get_revision("head")
    if newest.down_revision is None:
        pytest.skip("only the initial revision exists; test_downgrade_to_base_removes_every_table covers it")
    with at_released_revision_with_demo(dialect, tmp_path):
        before = row_counts()
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="-1")
        assert current_revision() == newest.down_revision
        assert {t: row_counts().get(t) for t in before} == before
        flask_migrate.upgrade()
        assert current_revision() == newest.revision
        assert_demo_intact(before)


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
