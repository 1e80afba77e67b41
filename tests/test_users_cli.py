"""``flask users create | grant | revoke | reset-password``, with ``--as`` applying that user's scope."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.users_cli import users
from models import Grant, User
from tests.test_access_matrix import snapshot

NEW_PASSWORD = "a-long-password-1"  # noqa: S105


@pytest.fixture()
def run(app, db):
    runner = app.test_cli_runner()

    def _run(*args, password: str | None = None):
        result = runner.invoke(users, list(args), input=(password + "\n") if password is not None else None)
        db.session.expire_all()
        return result

    return _run


def _user(db, username):
    return db.session.scalars(select(User).where(User.username == username)).first()


def test_create_reads_password_from_stdin_and_grants(run, world, db):
    result = run("create", "zhangsan", "--display-name", "张三", "--role", "clerk", "--region",
                 world.dake.code, "--as", "louxing", password=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    user = _user(db, "zhangsan")
    assert user.check_password(NEW_PASSWORD)
    assert [(g.role, g.region_id) for g in user.grants] == [("clerk", world.dake.id)]


def test_password_is_never_an_argument(run, world, db):
    result = run("create", "lisi", "--password", NEW_PASSWORD, password=NEW_PASSWORD)
    assert result.exit_code != 0
    assert _user(db, "lisi") is None


def test_short_password_is_refused(run, world, db):
    result = run("create", "lisi", "--role", "clerk", "--region", world.dake.code, "--as", "louxing",
                 password="short")
    assert result.exit_code != 0
    assert "10" in result.output
    assert _user(db, "lisi") is None
    result = run("reset-password", "shanshan", "--as", "louxing", password="short")
    assert result.exit_code != 0


def test_reset_password(run, world, db):
    result = run("reset-password", "shanshan", "--as", "louxing", password=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert _user(db, "shanshan").check_password(NEW_PASSWORD)
    # A county admin cannot reset the password of an account beyond the county (the city admin).
    before = snapshot(db)
    result = run("reset-password", "city", "--as", "louxing", password=NEW_PASSWORD)
    assert result.exit_code == 1 and "授权范围" in result.output
    assert snapshot(db) == before


def test_county_admin_cannot_grant_outside_or_above(run, world, db):
    before = snapshot(db)
    for role, region in (("clerk", world.tianping), ("city_admin", world.louxing),
                         ("county_admin", world.xinhua), ("viewer", world.city)):
        result = run("grant", "dake", role, region.code, "--as", "louxing")
        assert result.exit_code != 0, (role, region.name)
        assert "不能授予" in result.output
        assert snapshot(db) == before
    result = run("grant", "dake", "clerk", world.shanshan.code, "--as", "louxing")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Grant).where(Grant.user_id == world.users["dake"].id,
                                                 Grant.region_id == world.shanshan.id)) is not None


def test_clerk_cannot_grant_at_all(run, world, db):
    before = snapshot(db)
    result = run("grant", "dake", "viewer", world.shanshan.code, "--as", "shanshan")
    assert result.exit_code != 0
    assert snapshot(db) == before


def test_revoke_respects_the_scope(run, world, db):
    before = snapshot(db)
    result = run("revoke", "tianping", "clerk", world.tianping.code, "--as", "louxing")
    assert result.exit_code != 0
    result = run("revoke", "city", "city_admin", world.city.code, "--as", "louxing")
    assert result.exit_code != 0
    assert snapshot(db) == before
    result = run("revoke", "dake", "clerk", world.dake.code, "--as", "louxing")
    assert result.exit_code == 0, result.output
    assert _user(db, "dake").grants == []


def test_without_as_every_write_command_is_refused(run, world, db):
    before = snapshot(db)
    for args in (("grant", "dake", "city_admin", world.city.code), ("revoke", "dake", "clerk", world.dake.code),
                 ("reset-password", "dake"), ("create", "wangwu", "--role", "clerk", "--region", world.dake.code)):
        result = run(*args, password=NEW_PASSWORD)
        assert result.exit_code == 1, (args, result.output)
        assert "--as" in result.output
    assert snapshot(db) == before
    result = run("grant", "dake", "city_admin", world.city.code, "--as", "city")
    assert result.exit_code == 0, result.output
    assert {g.role for g in _user(db, "dake").grants} == {"clerk", "city_admin"}


def test_grant_and_revoke_are_audited_under_the_actor(run, world, db):
    from models import AuditLog

    assert run("grant", "dake", "viewer", world.dake.code, "--as", "louxing").exit_code == 0
    assert run("revoke", "dake", "viewer", world.dake.code, "--as", "louxing").exit_code == 0
    entries = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "grant",
                                                        AuditLog.actor != "system:tests")
                                 .order_by(AuditLog.id)).all()
    assert [(e.action, e.actor, e.user_id) for e in entries] == [
        ("create", "louxing", world.users["louxing"].id), ("delete", "louxing", world.users["louxing"].id)]


def test_first_account_of_an_empty_database_needs_no_as(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(users, ["create", "admin"], input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    from models import AuditLog

    entry = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "user_account")).one()
    assert entry.actor == "system:first-account" and entry.user_id is None
    # The second account is no longer a bootstrap: --as is required.
    result = runner.invoke(users, ["create", "second"], input=NEW_PASSWORD + "\n")
    assert result.exit_code == 1 and _user(db, "second") is None


def test_unknown_user_region_or_role(run, world, db):
    assert run("grant", "nobody", "clerk", world.dake.code, "--as", "city").exit_code != 0
    assert run("grant", "dake", "clerk", "999999999999", "--as", "city").exit_code != 0
    assert run("grant", "dake", "emperor", world.dake.code, "--as", "city").exit_code != 0
    assert run("grant", "dake", "clerk", world.dake.code, "--as", "nobody").exit_code != 0
