"""Login throttling (admin_app.security): progressive back-off per username and address, separate limits
per username and per address, counted atomically (parallel guesses against a real threaded server),
X-Forwarded-For only through ProxyFix, the same cost for unknown usernames, and the password policy."""

from __future__ import annotations

import datetime
import http.client
import os
import threading
import urllib.parse

import pytest
from sqlalchemy import func, select

from admin_app import create_app
from admin_app.security import LoginThrottle
from models import User
from models.base import utcnow
from models.rights import LoginAttempt
from tests.conftest import PASSWORD, count_rows

WRONG = "wrong-password-1"  # noqa: S105
ATTACKER, OWNER = "203.0.113.7", "198.51.100.2"


class Clock:
    def __init__(self):
        self.now = utcnow()

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture()
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(LoginThrottle, "clock", staticmethod(lambda: c.now))
    return c


def attempt(app, username: str, password: str, address: str = ATTACKER, headers: dict | None = None):
    """One login from a fresh browser at ``address``."""
    return app.test_client().post("/login", data={"username": username, "password": password},
                                  environ_overrides={"REMOTE_ADDR": address}, headers=headers or {})


def pair_rows(db, username: str, address: str = ATTACKER) -> int:
    return db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.address == address))


# -- back-off per (username, address) ---------------------------------------------------------------------
def test_backoff_grows_and_holds_even_the_right_password(app, world, clock, db, caplog):
    for _ in range(3):  # LOGIN_FREE_FAILURES
        assert attempt(app, "shanshan", WRONG).status_code == 401
    rv = attempt(app, "shanshan", PASSWORD)
    assert rv.status_code == 429 and rv.headers["Retry-After"] == "1"
    assert "登录失败次数过多" in rv.get_data(as_text=True)
    assert any("throttled" in r.getMessage() for r in caplog.records)
    clock.advance(1.1)
    assert attempt(app, "shanshan", WRONG).status_code == 401  # 1 s passed: one more guess
    rv = attempt(app, "shanshan", PASSWORD)
    assert rv.status_code == 429 and rv.headers["Retry-After"] == "2"  # the wait doubled
    clock.advance(1.5)
    assert attempt(app, "shanshan", PASSWORD).status_code == 429  # the right password, still too early
    assert pair_rows(db, "shanshan") == 4  # refused attempts left no rows
    clock.advance(0.6)
    assert attempt(app, "shanshan", PASSWORD).status_code == 302
    assert pair_rows(db, "shanshan") == 0  # a success forgets the failures of that pair


def test_backoff_is_capped_and_hammering_does_not_extend_it(app, world, clock, db, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_BACKOFF_MAX_SECONDS", 4)
    for _ in range(3):
        assert attempt(app, "shanshan", WRONG).status_code == 401
    for wait in (1, 2, 4, 4, 4):  # 1, 2, 4, then capped
        for _ in range(5):  # hammering during the wait
            assert attempt(app, "shanshan", WRONG).status_code == 429
        clock.advance(wait - 0.1)
        assert attempt(app, "shanshan", WRONG).status_code == 429
        clock.advance(0.2)
        assert attempt(app, "shanshan", WRONG).status_code == 401, wait
    assert pair_rows(db, "shanshan") == 8


def test_backoff_binds_only_the_address_that_failed(app, world, clock, db):
    for _ in range(10):
        attempt(app, "shanshan", WRONG)
    assert attempt(app, "shanshan", PASSWORD).status_code == 429
    assert attempt(app, "shanshan", PASSWORD, address=OWNER).status_code == 302


def test_backoff_remembers_a_day_then_forgets(app, world, clock, db):
    for _ in range(6):
        attempt(app, "shanshan", WRONG)
        clock.advance(10)
    assert pair_rows(db, "shanshan") == 6  # 3 free, then waits of 1, 2 and 4 s: each one was over
    clock.advance(app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    assert attempt(app, "shanshan", WRONG).status_code == 401  # the wait (8 s) is long over
    rv = attempt(app, "shanshan", WRONG)  # but 7 failures from this address still set the next wait
    assert rv.status_code == 429 and rv.headers["Retry-After"] == "16"
    clock.advance(app.config["LOGIN_BACKOFF_MEMORY_SECONDS"] + 1)
    for _ in range(3):
        assert attempt(app, "shanshan", WRONG).status_code == 401
    assert pair_rows(db, "shanshan") == 3  # the expired rows were deleted


# -- separate limits per username and per address ---------------------------------------------------------
def test_username_limit_over_all_addresses(app, world, clock, db, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_USERNAME_MAX_FAILURES", 6)
    for i in range(6):
        assert attempt(app, "shanshan", WRONG, address=f"10.0.0.{i}").status_code == 401
    assert attempt(app, "shanshan", PASSWORD, address=OWNER).status_code == 429
    assert attempt(app, "dake", PASSWORD, address=OWNER).status_code == 302  # other users are not touched
    assert count_rows(LoginAttempt) == 6
    clock.advance(app.config["LOGIN_FAILURE_WINDOW_SECONDS"] + 1)  # a sliding window, not a lock
    assert attempt(app, "shanshan", PASSWORD, address=OWNER).status_code == 302


def test_address_limit_over_all_usernames(app, world, clock, db, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_MAX_FAILURES", 5)
    for name in ("a1", "a2", "a3", "a4", "a5"):
        assert attempt(app, name, WRONG).status_code == 401
    assert attempt(app, "dake", PASSWORD).status_code == 429  # this address may try no more
    assert attempt(app, "dake", PASSWORD, address=OWNER).status_code == 302  # dake elsewhere: fine


def test_default_limits_leave_room_for_the_owner(app):
    cfg = app.config
    assert cfg["LOGIN_USERNAME_MAX_FAILURES"] >= 10 * cfg["LOGIN_FREE_FAILURES"]
    assert cfg["PROXY_COUNT"] == 0


# -- addresses: X-Forwarded-For only through ProxyFix -------------------------------------------------------
def test_x_forwarded_for_is_ignored_without_proxy_count(app, world, clock, db):
    for i in range(3):
        rv = attempt(app, "shanshan", WRONG, headers={"X-Forwarded-For": f"192.0.2.{i}"})
        assert rv.status_code == 401
    rv = attempt(app, "shanshan", PASSWORD, headers={"X-Forwarded-For": "192.0.2.99"})
    assert rv.status_code == 429
    assert set(db.session.scalars(select(LoginAttempt.address))) == {ATTACKER}


@pytest.mark.parametrize("proxies, expected", [(0, "127.0.0.1"), (1, "192.0.2.9"), (2, "198.51.100.5")])
def test_proxy_count_decides_which_hop_is_believed(proxies, expected):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "PROXY_COUNT": proxies})

    @app.route("/_address")
    def _address():
        from flask import request

        return request.remote_addr or ""

    rv = app.test_client().get("/_address", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.5, 192.0.2.9"})
    assert rv.get_data(as_text=True) == expected


# -- unknown usernames cost the same ----------------------------------------------------------------------
def test_every_login_checks_one_hash_of_the_same_method(app, world, clock, db, monkeypatch):
    import admin_app.auth as auth
    from admin_app.actor import acting_as, system_actor
    from models.accounts import UNUSABLE_PASSWORD
    from tests.conftest import make_user

    with acting_as(system_actor("test")):
        world.users["viewer"].active = False
        make_user("nopass", "viewer", world.city).password_hash = UNUSABLE_PASSWORD
        db.session.commit()
    seen = []
    real = auth.check_password_hash

    def spy(stored, password):
        seen.append(stored.split("$", 1)[0])
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password_hash", spy)
    method = app.config["PASSWORD_HASH_METHOD"]
    for username in ("no-such-user", "shanshan", "viewer", "nopass"):
        seen.clear()
        assert attempt(app, username, WRONG, address=f"10.1.0.{len(username)}").status_code == 401
        assert seen == [method], username
    seen.clear()
    assert attempt(app, "shanshan", PASSWORD, address=OWNER).status_code == 302
    assert seen == [method]
    # a disabled account is refused even with its right password
    assert attempt(app, "viewer", PASSWORD, address=OWNER).status_code == 401


def test_unknown_usernames_are_throttled_like_known_ones(app, world, clock, db):
    for username in ("no-such-user", "shanshan"):
        for _ in range(3):
            assert attempt(app, username, WRONG).status_code == 401
        assert attempt(app, username, WRONG).status_code == 429, username


# -- atomic counting: parallel guesses against a real threaded server ------------------------------------
@pytest.fixture()
def live_app(request, tmp_path, db):
    """A separate app behind a real threaded HTTP server, one proxy trusted (to vary addresses).

    SQLite: a database file (the suite's in-memory database is one shared connection, no real
    concurrency). PostgreSQL: the suite's database; the ``db`` fixture empties it afterwards.
    """
    from werkzeug.serving import make_server

    from admin_app.actor import acting_as, system_actor
    from admin_app.config import normalise_database_url
    from admin_app.extensions import db as ext_db
    from models import Base

    pg = os.environ.get("TEST_DATABASE_URL")
    url = normalise_database_url(pg) if pg else f"sqlite:///{tmp_path / 'throttle.db'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "PROXY_COUNT": 1})
    with app.app_context():
        if not pg:
            Base.metadata.create_all(ext_db.engine)
        with acting_as(system_actor("test")):
            user = User(username="racer", display_name="racer")
            user.set_password(PASSWORD)
            ext_db.session.add(user)
            ext_db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.port = server.server_port
    yield app
    server.shutdown()
    thread.join(5)
    with app.app_context():
        ext_db.session.remove()
        ext_db.engine.dispose()


def _parallel_logins(port: int, logins: list[tuple[str, str]]) -> list[int]:
    """POST every (username, address) at once from its own thread; the status codes."""
    barrier = threading.Barrier(len(logins))
    codes: list[int] = [0] * len(logins)

    def one(i: int, username: str, address: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = urllib.parse.urlencode({"username": username, "password": WRONG})
        barrier.wait()
        conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                              "X-Forwarded-For": address})
        codes[i] = conn.getresponse().status
        conn.close()

    threads = [threading.Thread(target=one, args=(i, *lg)) for i, lg in enumerate(logins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return codes


@pytest.mark.parametrize("scenario", ["pair", "username", "address"])
def test_parallel_guesses_do_not_race_past_the_limits(live_app, scenario):
    cfg = live_app.config
    if scenario == "pair":  # one username from one address: only the free failures get through
        limit, logins = cfg["LOGIN_FREE_FAILURES"], [("racer", "192.0.2.1")] * 20
    elif scenario == "username":  # one username from 20 addresses
        cfg["LOGIN_USERNAME_MAX_FAILURES"] = limit = 5
        logins = [("racer", f"192.0.2.{i}") for i in range(20)]
    else:  # 20 usernames from one address
        cfg["LOGIN_ADDRESS_MAX_FAILURES"] = limit = 5
        logins = [(f"user{i}", "192.0.2.1") for i in range(20)]
    codes = _parallel_logins(live_app.port, logins)
    assert set(codes) <= {401, 429}, codes
    checked = codes.count(401)
    assert checked <= limit, codes  # (all 20 may be refused when every row lands before any count)
    from admin_app.extensions import db as ext_db

    with live_app.app_context():
        assert ext_db.session.scalar(select(func.count()).select_from(LoginAttempt)) == checked


# -- password policy --------------------------------------------------------------------------------------
@pytest.mark.parametrize("password, message", [
    ("short", "至少 10 位"),
    ("aaaaaaaaaaaa", "同一个字符"),
    ("1111111111", "同一个字符"),
    ("1234567890", "过于常见"),
    ("qwertyuiop", "过于常见"),
    ("Password123", "过于常见"),
    ("woaini1314520", "过于常见"),
    ("zhangsan-x1", "用户名"),
])
def test_password_policy_refuses_guessable_passwords(password, message):
    user = User(username="zhangsan-x1")
    with pytest.raises(ValueError, match=message):
        user.set_password(password)
    assert user.password_hash in (None, "!")


def test_password_policy_accepts_a_good_password_and_the_list_ships():
    from models.accounts import common_passwords

    assert len(common_passwords()) >= 300
    assert sum(len(p) >= 10 for p in common_passwords()) >= 100
    user = User(username="zhangsan")
    user.set_password("tall-river-sings-41")
    assert user.check_password("tall-river-sings-41")
