"""Shared fixtures: one app per test session, an emptied database per test, a small two-county world.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import contextvars
import os
from dataclasses import dataclass, field

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from admin_app import create_app
from admin_app.extensions import db as _db
from models import Base, Grant, Region, User

PASSWORD = "yibuyizhan-demo"  # noqa: S105


class IsolatedClient(FlaskClient):
    """Runs every request in an empty context, so it gets its own app context, ``g`` and DB session
    exactly as in production, even while the test body holds an app context of its own."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app():
    url = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    from admin_app.config import normalise_database_url

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "localhost",
        # Fixture passwords are hashed cheaply; test_security checks that production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
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
    if _db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with _db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        with _db.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    ctx.pop()


@pytest.fixture()
def client(app, db):
    return app.test_client()


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


@pytest.fixture()
def world(db) -> World:
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


def pytest_generate_tests(metafunc):
    """A test taking ``endpoint`` runs once per generated screen, so new models are picked up."""
    if "endpoint" in metafunc.fixturenames:
        probe = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
        metafunc.parametrize("endpoint", sorted(v.endpoint for v in generated_views(probe)))


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
