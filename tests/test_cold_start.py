"""Cold start: what a fresh process builds before it prints or answers (issue 12).

The command line builds the Flask-Admin screens only for the commands that need them: ``flask print``
runs without them (same renderer, same scope checks), ``flask jobs``/``routes``/``run`` and every app
made in code (gunicorn, tests) have them all.
"""

from __future__ import annotations

import ctypes.util
import gc

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup
from pypdf import PdfReader
from sqlalchemy import select

import admin_app
from admin_app import create_app
from admin_app.extensions import db as _db
from models import Base, Region, User

TOWNSHIP = "431302100000"


def screens_built(app) -> bool:
    return "admin" in app.extensions and "views" in app.blueprints


@pytest.fixture()
def command_line(tmp_path, monkeypatch):
    """``(flask, apps)``: the ``flask`` command line over a SQLite file holding 杉山镇 and one clerk;
    ``apps`` collects the apps it loads, as ``flask --app admin_app`` would load them."""
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # FlaskGroup sets it; restored afterwards
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cold.sqlite'}",
              "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    setup = create_app(config, screens=False)
    with setup.app_context(), _db.engine.begin() as conn:
        Base.metadata.create_all(conn)
        path = ""
        parent_id = None
        for code, name, level in [("431300000000", "娄底市", "city"), ("431302000000", "娄星区", "county"),
                                  (TOWNSHIP, "杉山镇", "township")]:
            path += code + "/"
            parent_id = conn.execute(Region.__table__.insert(), {
                "code": code, "name": name, "level": level, "parent_id": parent_id, "path": path,
            }).inserted_primary_key[0]
    apps = []

    def load():
        apps.append(create_app(config))
        return apps[-1]

    return FlaskGroup(create_app=load, load_dotenv=False), apps


def test_cli_print_does_not_build_the_screens(command_line, tmp_path):
    flask, apps = command_line
    out = tmp_path / "one.pdf"
    result = CliRunner().invoke(flask, ["print", "org-chart", "--region", TOWNSHIP, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(PdfReader(str(out)).pages) == 1
    assert "杉山镇" in PdfReader(str(out)).pages[0].extract_text().replace(" ", "")
    (app,) = apps
    assert not screens_built(app)
    assert "printables" in app.blueprints  # the print routes and their templates are there

    # The scope check of --as still applies without the screens: an unknown account is refused.
    denied = tmp_path / "denied.pdf"
    result = CliRunner().invoke(flask, ["print", "org-chart", "--region", TOWNSHIP, "--out", str(denied),
                                        "--as", "nobody"])
    assert result.exit_code != 0 and "不存在或已停用" in result.output
    assert not denied.exists()
    with apps[-1].app_context():
        assert _db.session.scalar(select(User.id)) is None


@pytest.mark.parametrize("args", [["jobs", "--help"], ["routes"]])
def test_commands_that_need_the_screens_get_them(command_line, args):
    flask, apps = command_line
    result = CliRunner().invoke(flask, args)
    assert result.exit_code == 0, result.output
    assert screens_built(apps[-1])
    if args == ["routes"]:
        assert "/admin/person/" in result.output and "/admin/print" in result.output


def test_the_web_app_has_every_screen(app):
    assert screens_built(app)
    endpoints = {view.endpoint for view in app.extensions["admin"][0]._views}
    assert {"admin", "person", "print_menu", "jobs", "duty_division"} <= endpoints
    assert "/admin/" in {rule.rule for rule in app.url_map.iter_rules()}


def test_start_up_pauses_the_collector_and_always_turns_it_back_on(monkeypatch):
    monkeypatch.setattr(admin_app, "_process_started", False)
    frozen = gc.get_freeze_count()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, screens=False)
    assert gc.isenabled() and gc.get_freeze_count() > frozen  # the start-up objects are frozen
    assert admin_app._process_started
    # A second app is built the ordinary way; a failing start-up leaves the collector on too.
    assert create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, screens=False) is not app
    monkeypatch.setattr(admin_app, "_process_started", False)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SECRET_KEY": "", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert gc.isenabled()


def test_weasyprint_is_imported_with_its_libraries_and_find_library_restored():
    from printables.render import weasyprint

    stock = ctypes.util.find_library
    module = weasyprint()
    from weasyprint.text import ffi

    assert module.HTML is not None
    assert ffi.harfbuzz_subset is not None and ffi.pango is not None and ffi.fontconfig is not None
    assert ctypes.util.find_library is stock
    assert ctypes.util.find_library("c") is not None  # the stock lookup works as before
