"""Sessions end on the server (logout, password reset, deactivation), logout is POST only, production
refuses a missing or development SECRET_KEY, and signed-in pages are never cached."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from admin_app import create_app
from admin_app.actor import acting_as, system_actor, user_actor
from admin_app.config import DEV_SECRET_KEY, Config
from models import User
from tests.conftest import PASSWORD
from tests.test_access_matrix import parse_form

NEW_PASSWORD = "a-new-long-password-7"  # noqa: S105


def _user(db, username: str) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == username)).one()


def _copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie (as a thief would)."""
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None, "no session cookie"
    thief = app.test_client()
    thief.set_cookie("session", cookie.value, domain="localhost")
    return thief


def _signed_in(c) -> bool:
    rv = c.get("/admin/person/")
    assert rv.status_code in (200, 302), rv.status_code
    return rv.status_code == 200


# -- logout ----------------------------------------------------------------------------------------------
def test_cookie_copied_before_logout_does_not_work_after_it(app, client, login, world, db):
    login("shanshan")
    thief = _copy_of(app, client)
    assert _signed_in(thief)  # control: the copy works while the session lives
    before = _user(db, "shanshan").session_version
    rv = client.post("/logout")
    assert rv.status_code == 302 and rv.headers["Location"].endswith("/login")
    assert not _signed_in(client)
    assert not _signed_in(thief)
    assert _user(db, "shanshan").session_version == before + 1
    # the next login works, and only the new cookie does
    login("shanshan")
    assert _signed_in(client) and not _signed_in(thief)


def test_logout_by_get_is_refused_and_ends_nothing(app, client, login, world, db):
    login("shanshan")
    thief = _copy_of(app, client)
    before = _user(db, "shanshan").session_version
    assert client.get("/logout").status_code == 405
    assert _signed_in(client) and _signed_in(thief)
    assert _user(db, "shanshan").session_version == before


def test_logout_button_posts_a_csrf_protected_form(app, client, world, db):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        rv = client.post("/login", data={"username": "shanshan", "password": PASSWORD, "csrf_token": token})
        assert rv.status_code == 302
        page = client.get("/admin/person/").get_data(as_text=True)
        form = re.search(r'<form[^>]*id="logout-form"[^>]*>.*?</form>', page, re.S)
        assert form, "no logout form on the page"
        assert 'method="post"' in form.group(0) and "onclick" not in form.group(0)
        assert not re.search(r'<a[^>]*href="[^"]*/logout', page)  # no GET link left
        assert client.post("/logout").status_code == 400  # without the token: refused, still signed in
        assert _signed_in(client)
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(0)))
        assert fields.get("csrf_token")
        assert client.post("/logout", data=fields).status_code == 302
        assert not _signed_in(client)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_session_without_a_version_is_refused(app, client, world, db):
    """Cookies from before session versions (only the user id) stop working after the upgrade."""
    user = _user(db, "shanshan")
    serializer = app.session_interface.get_signing_serializer(app)
    old = serializer.dumps({"_user_id": str(user.id), "_fresh": True})
    client.set_cookie("session", old, domain="localhost")
    assert not _signed_in(client)
    forged = serializer.dumps({"_user_id": f"{user.id}:{user.session_version + 1}", "_fresh": True})
    client.set_cookie("session", forged, domain="localhost")
    assert not _signed_in(client)


# -- password reset and deactivation --------------------------------------------------------------------
def test_password_reset_ends_every_session(app, client, login, world, db):
    from admin_app.users_cli import users

    login("shanshan")
    thief = _copy_of(app, client)
    result = app.test_cli_runner().invoke(users, ["reset-password", "shanshan", "--as", "city"],
                                          input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert not _signed_in(client) and not _signed_in(thief)
    rv = client.post("/login", data={"username": "shanshan", "password": NEW_PASSWORD})
    assert rv.status_code == 302 and _signed_in(client)


def test_deactivation_on_the_account_screen_ends_sessions_for_good(app, client, login, world, db):
    victim = app.test_client()
    rv = victim.post("/login", data={"username": "dake", "password": PASSWORD})
    assert rv.status_code == 302 and _signed_in(victim)
    dake = _user(db, "dake")
    login("louxing")
    form = parse_form(client.get(f"/admin/user_account/edit/?id={dake.id}").get_data(as_text=True))
    form.values.pop("active", None)  # the check box left empty
    assert client.post(f"/admin/user_account/edit/?id={dake.id}", data=form.values).status_code == 302
    assert _user(db, "dake").active is False
    assert not _signed_in(victim)
    # switching the account back on does not revive the old session
    with acting_as(user_actor(_user(db, "city"))):
        user = _user(db, "dake")
        user.active = True
        db.session.commit()
    assert not _signed_in(victim)


def test_deactivation_by_cli_and_in_code_ends_sessions(app, client, world, db):
    from admin_app.users_cli import users

    for username, how in (("tianping", "cli"), ("shanshan", "code")):
        c = app.test_client()
        assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
        assert _signed_in(c)
        if how == "cli":
            result = app.test_cli_runner().invoke(users, ["deactivate", username, "--as", "city"])
            assert result.exit_code == 0, result.output
        else:
            with acting_as(system_actor("test")):
                _user(db, username).active = False
                db.session.commit()
        assert _user(db, username).active is False
        assert not _signed_in(c), how


# -- SECRET_KEY in production -----------------------------------------------------------------------------
@pytest.fixture()
def production(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(Config, "SECRET_KEY", None)
    return monkeypatch


def test_production_refuses_to_start_without_a_secret_key(production):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.parametrize("how", ["environment", "override", "override-testing"])
def test_production_refuses_the_development_key(production, how):
    override = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
    if how == "environment":
        production.setenv("SECRET_KEY", DEV_SECRET_KEY)
    else:
        override["SECRET_KEY"] = DEV_SECRET_KEY
        override["TESTING"] = how == "override-testing"
    with pytest.raises(RuntimeError, match="development key"):
        create_app(override)


def test_production_refuses_a_short_key_and_takes_a_real_one(production):
    production.setenv("SECRET_KEY", "short")
    with pytest.raises(RuntimeError, match="too short"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    real = "9f" * 32
    production.setenv("SECRET_KEY", real)
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"] == real


def test_development_key_only_in_development(production):
    production.setenv("APP_ENV", "development")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"] == DEV_SECRET_KEY
    # an app built in code for tests under APP_ENV=production gets a random key, never the dev key
    production.setenv("APP_ENV", "production")
    key = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}).config["SECRET_KEY"]
    assert key and key != DEV_SECRET_KEY and len(key) >= 32


# -- no caching of signed-in pages ------------------------------------------------------------------------
def test_signed_in_pages_exports_and_prints_are_no_store(client, login, world, db):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")  # control
    login("shanshan")
    for url in ("/admin/person/", "/admin/person/export/csv/", f"/admin/person/details/?id={world.shanshan.id}",
                f"/print/{world.shanshan.code}/org-chart.html", "/admin/person/?page=999"):
        rv = client.get(url, buffered=True)
        assert rv.headers.get("Cache-Control") == "no-store", (url, rv.status_code)
    static = client.get("/admin/static/bootstrap/bootstrap4/css/bootstrap.min.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
