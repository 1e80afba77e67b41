"""Shared fixtures: one app per test session, an emptied database per test, a small two-county world.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set. Under pytest-xdist
(``-n 2``) each worker has its own database: SQLite is in memory per process, and on PostgreSQL the
worker creates ``<name>_<worker>`` (e.g. ``yby_ci_gw0``) beside the named one and drops it at the end.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import os
from dataclasses import dataclass, field

import pytest
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, exists, func, select, text
from sqlalchemy.engine import make_url

from admin_app import create_app
from admin_app.extensions import db as _db
from models import Base, Grant, Region, User

PASSWORD = "yibuyizhan-demo"  # noqa: S105


def _worker_server(url: str):
    """(server engine, the URL, this xdist worker's database name) for a PostgreSQL URL."""
    from admin_app.config import normalise_database_url

    base = make_url(normalise_database_url(url))
    server = create_engine(base, isolation_level="AUTOCOMMIT")
    return server, base, f"{base.database}_{os.environ['PYTEST_XDIST_WORKER']}"


def pytest_configure(config):
    """Point this xdist worker at a PostgreSQL database of its own (made empty here), before any test
    module reads TEST_DATABASE_URL."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not (os.environ.get("PYTEST_XDIST_WORKER") and url.startswith("postgres")):
        return
    server, base, name = _worker_server(url)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    config._worker_database = (url, name)
    os.environ["TEST_DATABASE_URL"] = base.set(database=name).render_as_string(hide_password=False)


def pytest_unconfigure(config):
    found = getattr(config, "_worker_database", None)
    if found is None:
        return
    url, name = found
    os.environ["TEST_DATABASE_URL"] = url
    server, _base, _name = _worker_server(url)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def _empty_database(engine) -> None:
    """Delete every row, children first, and restart the id sequences, as a fresh database has them.

    DELETE rather than TRUNCATE: a TRUNCATE of the schema took 0.7 s per test on PostgreSQL here (new files
    for every table, a WAL flush), a DELETE of a test's few rows takes milliseconds."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        if engine.dialect.name == "postgresql":
            conn.execute(text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) "
                "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"))


class IsolatedClient(FlaskClient):
    """Runs every request in an empty context, so it gets its own app context, ``g`` and DB session
    exactly as in production, even while the test body holds an app context of its own."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app():
    url = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    from admin_app.config import normalise_database_url

    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "localhost",
        # Fixture passwords are hashed cheaply; test_security checks that production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    if url.startswith("postgres"):
        # A test database need not survive a power cut: commits skip the WAL flush (2 ms → 0.3 ms each).
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True, "connect_args": {"options": "-c synchronous_commit=off"}}
    app = create_app(config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture()
def db(app):
    """The database inside an app context for the test body, emptied after each test.

    Requests made by ``client`` use their own session: call ``db.session.expire_all()`` before
    reading attributes of objects loaded before a request.
    """
    from admin_app.actor import acting_as, system_actor

    ctx = app.app_context()
    ctx.push()
    # The test body writes its fixtures as a named system actor (the write gate refuses a flush with
    # none); requests made through ``client`` run in their own context and act as the logged-in user.
    with acting_as(system_actor("tests")):
        yield _db
    _db.session.rollback()
    _db.session.remove()
    _empty_database(_db.engine)
    ctx.pop()


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture(scope="session")
def browser_demo_file(tmp_path_factory):
    """A SQLite file holding the 娄底 demo, seeded once per session; each browser module serves a copy."""
    from tests.test_browser import require_browser, seed_demo_file

    require_browser()
    path = tmp_path_factory.mktemp("browser-demo") / "demo.db"
    seed_demo_file(path)
    return path


@pytest.fixture(scope="session")
def chromium_session():
    """One headless Chromium for every browser test of the session (per xdist worker)."""
    from tests.test_browser import launch_chromium, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def make_region(code: str, name: str, level: str, parent: Region | None = None) -> Region:
    region = Region(code=code, name=name, level=level, parent=parent)
    region.path = region.compute_path()
    _db.session.add(region)
    _db.session.flush()
    return region


def make_user(username: str, role: str, region: Region, password: str = PASSWORD) -> User:
    user = User(username=username, display_name=username)
    user.set_password(password)
    _db.session.add(user)
    _db.session.flush()
    _db.session.add(Grant(user=user, role=role, region=region))
    _db.session.flush()
    return user


@dataclass
class World:
    """娄底市 with 娄星区 (杉山镇, 大科街道) and 新化县 (田坪镇), and the demo roles."""

    city: Region
    louxing: Region
    xinhua: Region
    shanshan: Region
    dake: Region
    tianping: Region
    village: Region
    users: dict[str, User] = field(default_factory=dict)


_made: dict[tuple, tuple[object, dict[str, list[dict]]]] = {}  # per process: key -> (value, rows written)


def _database_is_empty(conn) -> bool:
    return not any(conn.execute(select(*(exists().select_from(t) for t in Base.metadata.sorted_tables))).one())


def _rows_of_every_table(conn) -> dict[str, list[dict]]:
    found = {t.name: [dict(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns)).mappings()]
             for t in Base.metadata.sorted_tables}
    return {name: rows for name, rows in found.items() if rows}


def _copy_back(conn, rows: dict[str, list[dict]]) -> None:
    """INSERT rows as they were written (ids included); on PostgreSQL move each id sequence past them, as
    the ORM's inserts would have."""
    tables = Base.metadata.tables
    for name, table_rows in rows.items():
        conn.execute(tables[name].insert(), table_rows)
        if conn.dialect.name == "postgresql" and "id" in tables[name].c:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                              f'(SELECT max(id) FROM "{name}"))'))


def made_once(key: tuple, make):
    """``(value, copied)``: the first call of a process runs ``make()`` in the empty database — ORM writes
    through the write gate (which audits them), committed — and keeps the rows it wrote and its value.
    Later calls, in a database emptied again, get those very rows, audit rows included, copied back by
    plain INSERTs (milliseconds instead of tenths of a second) and a copy of the value (plain data, no ORM
    objects), with ``copied`` true. A database that already holds rows gets ``make()``."""
    key = (str(_db.engine.url), current_app.config.get("PASSWORD_HASH_METHOD"), *key)
    conn = _db.session.connection()
    if not _database_is_empty(conn):
        return make(), False
    if key not in _made:
        value = make()
        _made[key] = (copy.deepcopy(value), _rows_of_every_table(_db.session.connection()))
        _db.session.commit()
        return value, False
    value, rows = _made[key]
    _copy_back(conn, rows)
    _db.session.commit()
    return copy.deepcopy(value), True


def _build_world() -> World:
    """The world made through the ORM, as a test would: the write gate checks and audits every row."""
    city = make_region("431300000000", "娄底市", "city")
    louxing = make_region("431302000000", "娄星区", "county", city)
    xinhua = make_region("431322000000", "新化县", "county", city)
    shanshan = make_region("431302100000", "杉山镇", "township", louxing)
    dake = make_region("431302005000", "大科街道", "township", louxing)
    tianping = make_region("431322116000", "田坪镇", "township", xinhua)
    village = make_region("431302100201", "杉山村", "village", shanshan)
    w = World(city, louxing, xinhua, shanshan, dake, tianping, village)
    w.users = {
        "city": make_user("city", "city_admin", city),
        "louxing": make_user("louxing", "county_admin", louxing),
        "shanshan": make_user("shanshan", "clerk", shanshan),
        "dake": make_user("dake", "clerk", dake),
        "tianping": make_user("tianping", "clerk", tianping),
        "viewer": make_user("viewer", "viewer", city),
    }
    _db.session.commit()
    return w


@pytest.fixture()
def world(db) -> World:
    """The world in an empty database, made once per process (``made_once``: copying its rows back takes
    3 ms instead of 60 on SQLite, 26 instead of 220 on PostgreSQL)."""
    built: list[World] = []
    _none, copied = made_once(("world",), lambda: built.append(_build_world()))
    if not copied:
        return built[0]
    # The same rows under the same ids, in the order _build_world made them; committed, so expired and
    # read afresh on first use, as _build_world leaves its objects.
    w = World(*_db.session.scalars(select(Region).order_by(Region.id)))
    w.users = {u.username: u for u in _db.session.scalars(select(User).order_by(User.id))}
    _db.session.commit()
    return w


@pytest.fixture()
def login(client):
    """``login("shanshan")`` logs the test client in as that user."""

    def _login(username: str, password: str = PASSWORD):
        client.post("/logout")  # logout is POST only (CSRF is off in the test app)
        rv = client.post("/login", data={"username": username, "password": password})
        assert rv.status_code == 302, rv.data[:500]
        return rv

    return _login


def generated_views(app) -> list:
    """Every screen the view factory generated (the access matrix and the smoke test iterate them)."""
    from views.base import SecuredModelView

    return [v for v in app.extensions["admin"][0]._views if isinstance(v, SecuredModelView)]


@functools.cache
def generated_endpoints() -> list[str]:
    probe = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted(v.endpoint for v in generated_views(probe))


def pytest_generate_tests(metafunc):
    """A test taking ``endpoint`` runs once per generated screen, so new models are picked up."""
    if "endpoint" in metafunc.fixturenames:
        metafunc.parametrize("endpoint", generated_endpoints())


def count_rows(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


def post_type(title: str, side: str = "armed_forces", headcount: int = 1,
              qualification: str | None = None):
    """The catalogue entry (岗位目录) ``title``, made on first use: posts take their 编制数 and required
    qualification from it."""
    from models import PostType

    found = _db.session.scalars(select(PostType).where(PostType.title == title)).first()
    if found is None:
        found = PostType(title=title, side=side, headcount=headcount, required_qualification=qualification)
        _db.session.add(found)
        _db.session.flush()
    return found
