"""Operations: /healthz, the slow-request log, and ``flask backup`` / ``flask restore`` on both databases.

The backup tests use databases of their own (a file for SQLite, a throw-away database next to
TEST_DATABASE_URL for PostgreSQL), never the suite's shared one.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from admin_app import create_app
from admin_app.extensions import db
from models import Base, Region, User
from tests.test_migrations import empty_database

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
DIALECTS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not PG_URL.startswith("postgres"), reason="TEST_DATABASE_URL does not point to PostgreSQL")),
]


# ---------------------------------------------------------------- /healthz


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("url", [
    "sqlite:////nonexistent-directory/yby/down.db",
    "postgresql+psycopg://postgres@127.0.0.1:1/down?connect_timeout=2",  # nothing listens on port 1
])
def test_healthz_answers_503_with_a_json_error_when_the_database_is_down(url):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error" and body["database"] == "unavailable"
    assert body["error"] == "OperationalError"


# ---------------------------------------------------------------- slow-request log


def _slow_records(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "admin_app.ops" and "slow request" in r.getMessage()]


def test_slow_requests_are_logged_with_endpoint_method_status_and_duration(app, client, caplog, monkeypatch):
    monkeypatch.setitem(app.config, "SLOW_REQUEST_MS", 0)
    with caplog.at_level(logging.WARNING, logger="admin_app.ops"):
        client.get("/healthz")
        client.post("/healthz")  # 405
    first, second = _slow_records(caplog)
    assert "GET /healthz endpoint=ops.healthz status=200" in first and first.endswith(" ms")
    assert "POST /healthz" in second and "status=405" in second


def test_fast_requests_are_not_logged(app, client, caplog, monkeypatch):
    monkeypatch.setitem(app.config, "SLOW_REQUEST_MS", 60_000)
    with caplog.at_level(logging.WARNING, logger="admin_app.ops"):
        assert client.get("/healthz").status_code == 200
    assert _slow_records(caplog) == []


def test_slow_request_threshold_defaults_to_500_ms(monkeypatch):
    monkeypatch.delenv("SLOW_REQUEST_MS", raising=False)
    assert create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SLOW_REQUEST_MS"] == 500


# ---------------------------------------------------------------- backup / restore


@contextmanager
def own_database(dialect: str, tmp_path: Path, name: str):
    """An app on a brand-new database with the current schema, dropped afterwards."""
    with empty_database(dialect, tmp_path, f"ops_{name}") as url:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        try:
            with app.app_context():
                db.create_all()
                db.session.remove()
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def fill(app) -> None:
    """A few rows through Core (no ORM flush, so no actor is involved): three regions and a user."""
    with app.app_context(), db.engine.begin() as conn:
        parent_id, path = None, ""
        for code, name, level in [("431300000000", "娄底市", "city"), ("431302000000", "娄星区", "county"),
                                  ("431302001000", "杉山镇", "township")]:
            path += code + "/"
            parent_id = conn.execute(Region.__table__.insert(), {
                "code": code, "name": name, "level": level, "parent_id": parent_id, "path": path,
            }).inserted_primary_key[0]
        conn.execute(User.__table__.insert(), {"username": "city", "display_name": "市级管理员",
                                               "password_hash": "x"})


def snapshot(app) -> dict[str, list[tuple]]:
    with app.app_context(), db.engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables}


def add_region(app, code: str) -> None:
    with app.app_context(), db.engine.begin() as conn:
        city_id = conn.execute(select(Region.id).where(Region.code == "431300000000")).scalar_one()
        conn.execute(Region.__table__.insert(), {"code": code, "name": "新区", "level": "county",
                                                 "parent_id": city_id, "path": f"431300000000/{code}/"})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_backup_and_restore_round_trip(dialect, tmp_path):
    out = tmp_path / "backup.dump"
    with own_database(dialect, tmp_path, "src") as source, own_database(dialect, tmp_path, "dst") as target:
        fill(source)
        before = snapshot(source)
        assert len(before["region"]) == 3 and len(before["user_account"]) == 1

        result = source.test_cli_runner().invoke(args=["backup", str(out)])
        assert result.exit_code == 0, result.output
        assert "已备份到" in result.output and out.stat().st_size > 0

        # An empty database (schema only) is restored without --force.
        result = target.test_cli_runner().invoke(args=["restore", str(out)])
        assert result.exit_code == 0, result.output
        assert snapshot(target) == before

        # A database holding data is refused without --force, and left unchanged.
        add_region(source, "431381000000")
        changed = snapshot(source)
        result = source.test_cli_runner().invoke(args=["restore", str(out)])
        assert result.exit_code == 1
        assert "数据库中已有数据" in result.output and "--force" in result.output
        assert snapshot(source) == changed

        result = source.test_cli_runner().invoke(args=["restore", str(out), "--force"])
        assert result.exit_code == 0, result.output
        assert snapshot(source) == before
        # The restored database keeps working: new ids do not collide with restored ones.
        add_region(source, "431382000000")
        assert len(snapshot(source)["region"]) == 4


@pytest.mark.parametrize("dialect", DIALECTS)
def test_restore_refuses_a_file_that_is_not_a_backup_of_this_database(dialect, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("不是备份", encoding="utf-8")
    with own_database(dialect, tmp_path, "bogus") as app:
        before = snapshot(app)
        result = app.test_cli_runner().invoke(args=["restore", str(bogus), "--force"])
        assert result.exit_code == 1
        assert "不是本数据库" in result.output
        assert snapshot(app) == before
