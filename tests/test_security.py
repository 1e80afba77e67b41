"""Hardening: CSRF on every state-changing request, login throttling, grants, masking, headers, sessions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import Grant, Person, Region, User
from tests.conftest import PASSWORD
from tests.test_access_matrix import id_number, parse_form, snapshot

ID_NUMBER = id_number("431302", "19900101", 18)


@pytest.fixture()
def person(world, db):
    p = Person(name="王建军", region=world.shanshan, id_number=ID_NUMBER, phone="13812345678",
               address="杉山镇幸福路 8 号")
    db.session.add(p)
    db.session.commit()
    return p


@pytest.fixture()
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


# -- CSRF ----------------------------------------------------------------------------------------------
def test_login_without_csrf_token_is_400(client, world, csrf_on, db):
    rv = client.post("/login", data={"username": "shanshan", "password": PASSWORD})
    assert rv.status_code == 400
    assert client.get("/admin/person/").status_code == 302  # still logged out


def _login_with_token(client, username="shanshan"):
    token = _token(client.get("/login").get_data(as_text=True))
    rv = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert rv.status_code == 302


def test_state_changes_without_csrf_token_are_400(client, world, person, csrf_on, db):
    _login_with_token(client)
    before = snapshot(db)
    posts = [
        ("/admin/person/new/", {"name": "李四", "region": str(world.shanshan.id)}),
        (f"/admin/person/edit/?id={person.id}", {"name": "改名", "region": str(world.shanshan.id),
                                                 "row_version": "1"}),
        ("/admin/person/delete/", {"id": str(person.id)}),
        ("/admin/person/action/", {"action": "delete", "rowid": [str(person.id)]}),
        ("/admin/rights/", {"grid": "1"}),
        ("/logout", {}),
    ]
    for url, data in posts:
        rv = client.post(url, data=data)
        assert rv.status_code == 400, (url, rv.status_code)
        assert snapshot(db) == before, url
        # a token from another session is no better
        rv = client.post(url, data={**data, "csrf_token": "forged-token"})
        assert rv.status_code == 400, url
    assert snapshot(db) == before


def test_real_list_page_delete_and_action_carry_valid_tokens(client, world, person, csrf_on, db):
    other = Person(name="赵六", region=world.shanshan)
    db.session.add(other)
    db.session.commit()
    person_id, other_id = person.id, other.id
    _login_with_token(client)
    page = client.get("/admin/person/").get_data(as_text=True)
    # the row delete form of the page, as the browser would post it (with the row's delete button)
    form = re.search(r'<form[^>]*id="row-delete-form"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    assert form, "the list page has no delete form"
    assert re.search(rf'form="row-delete-form" name="id" value="{person_id}"', page)
    fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', form.group(2)))
    assert "csrf_token" in fields
    fields["id"] = str(person_id)
    rv = client.post(form.group(1).replace("&amp;", "&"), data=fields)
    assert rv.status_code == 302, rv.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert db.session.get(Person, person_id) is None
    # the bulk action form of the page
    action = re.search(r'<form[^>]*id="action_form"[^>]*>(.*?)</form>', page, re.S)
    assert action, "the list page has no action form"
    fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', action.group(1)))
    fields.update({"action": "delete", "rowid": str(other_id)})
    rv = client.post("/admin/person/action/", data=fields)
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, other_id) is None


# -- login throttling: tests/test_throttle.py ------------------------------------------------------


# -- grants: never wider, never higher ---------------------------------------------------------------
def _grant_form(world, user, role, region):
    return {"user": str(user.id), "role": role, "region": str(region.id)}


def test_county_admin_cannot_grant_city_admin_or_outside_county(client, login, world, db):
    login("louxing")
    target = world.users["dake"]
    before = snapshot(db)
    for role, region in (("city_admin", world.louxing), ("clerk", world.tianping), ("clerk", world.city),
                         ("county_admin", world.xinhua)):
        rv = client.post("/admin/grant/new/", data=_grant_form(world, target, role, region))
        assert rv.status_code in (200, 404), (role, region.name)
        assert snapshot(db) == before, (role, region.name)
    # control: a clerk grant inside the county is fine
    rv = client.post("/admin/grant/new/", data=_grant_form(world, target, "clerk", world.shanshan))
    assert rv.status_code == 302
    assert db.session.scalar(select(Grant).where(Grant.user_id == target.id,
                                                 Grant.region_id == world.shanshan.id)) is not None


def test_county_admin_cannot_raise_a_grant_by_edit(client, login, world, db):
    login("louxing")
    grant = world.users["dake"].grants[0]
    before = snapshot(db)
    rv = client.post(f"/admin/grant/edit/?id={grant.id}",
                     data={**_grant_form(world, world.users["dake"], "city_admin", world.dake),
                           "row_version": str(grant.version)})
    assert rv.status_code == 200
    assert "不能授予高于本人角色" in rv.get_data(as_text=True)
    assert snapshot(db) == before


def test_county_admin_cannot_create_user_with_foreign_inline_grant(client, login, world, db):
    login("louxing")
    before = snapshot(db)
    for role, region in (("clerk", world.tianping), ("city_admin", world.louxing)):
        rv = client.post("/admin/user_account/new/", data={
            "username": "newbie", "display_name": "新人", "active": "y",
            "grants-0-role": role, "grants-0-region": str(region.id)})
        assert rv.status_code == 200, role
        assert snapshot(db) == before
    rv = client.post("/admin/user_account/new/", data={
        "username": "newbie", "display_name": "新人", "active": "y",
        "grants-0-role": "clerk", "grants-0-region": str(world.dake.id)})
    assert rv.status_code == 302
    assert db.session.scalar(select(User).where(User.username == "newbie")) is not None


def test_county_admin_cannot_take_over_a_user_of_another_county(client, login, world, db):
    # tianping (新化县) also got a grant in 娄星区: louxing sees the user but may not change it
    db.session.add(Grant(user=world.users["tianping"], role="viewer", region=world.dake))
    db.session.commit()
    login("louxing")
    user = world.users["tianping"]
    before = snapshot(db)
    assert client.get(f"/admin/user_account/edit/?id={user.id}").status_code == 404
    rv = client.post(f"/admin/user_account/edit/?id={user.id}", data={
        "username": "tianping", "display_name": "taken", "active": "y", "row_version": str(user.version)})
    assert rv.status_code == 404
    assert client.post("/admin/user_account/delete/", data={"id": str(user.id)}).status_code == 404
    assert client.post("/admin/user_account/action/",
                       data={"action": "delete", "rowid": [str(user.id)]}).status_code == 404
    assert snapshot(db) == before
    # a user wholly inside the county can be edited (control)
    dake = world.users["dake"]
    form = parse_form(client.get(f"/admin/user_account/edit/?id={dake.id}").get_data(as_text=True))
    form.values["display_name"] = "大科街道办事员"
    assert client.post(f"/admin/user_account/edit/?id={dake.id}", data=form.values).status_code == 302


# -- no grant, no data ---------------------------------------------------------------------------------
def test_user_without_grant_sees_nothing(client, world, db, person, app):
    user = User(username="nogrant", display_name="无授权")
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    rv = client.post("/login", data={"username": "nogrant", "password": PASSWORD})
    assert rv.status_code == 302
    home = client.get("/admin/").get_data(as_text=True)
    assert "人员" not in home and "/admin/person/" not in home
    from tests.test_access_matrix import generated_views

    for view in generated_views(app):
        rv = client.get(f"/admin/{view.endpoint}/")
        assert rv.status_code == 404, view.endpoint
    assert client.get(f"/admin/person/details/?id={person.id}").status_code == 404
    assert client.get("/admin/rights/").status_code == 404


# -- sensitive fields ----------------------------------------------------------------------------------
def test_viewer_sees_masked_values_and_cannot_search_them(client, login, person, db):
    from models.rights import RolePermission

    # the rights screen may let viewers export; what they export is masked all the same
    db.session.add(RolePermission(role="viewer", model_name="Person", action="export", allowed=True))
    db.session.commit()
    login("viewer")
    for url in ("/admin/person/", f"/admin/person/details/?id={person.id}", "/admin/person/export/csv/"):
        text = client.get(url, buffered=True).get_data(as_text=True)
        assert "王建军" in text, url
        assert ID_NUMBER not in text and "13812345678" not in text and "幸福路" not in text, url
    # no oracle: the exact ID number does not find the person, neither do fragments of phone/address
    for term in (ID_NUMBER, "13812345678", "幸福路"):
        page = client.get(f"/admin/person/?search={term}").get_data(as_text=True)
        assert f"id={person.id}" not in page and "王建军" not in page, term


def test_clerk_with_sensitive_right_sees_and_searches(client, login, person, db):
    login("shanshan")
    detail = client.get(f"/admin/person/details/?id={person.id}").get_data(as_text=True)
    assert ID_NUMBER in detail and "13812345678" in detail
    page = client.get(f"/admin/person/?search={ID_NUMBER}").get_data(as_text=True)
    assert "王建军" in page


# -- headers and sessions ------------------------------------------------------------------------------
def test_security_headers_and_nonce_on_every_inline_script(client, login, person, world, db):
    login("city")
    pages = ["/admin/", "/admin/person/", "/admin/person/new/", f"/admin/person/edit/?id={person.id}",
             f"/admin/person/details/?id={person.id}", "/admin/annual_plan/new/", "/admin/user_account/new/",
             "/admin/rights/"]
    for url in pages:
        rv = client.get(url)
        assert rv.status_code == 200, url
        csp = rv.headers["Content-Security-Policy"]
        nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert rv.headers["X-Content-Type-Options"] == "nosniff"
        html = rv.get_data(as_text=True)
        inline = [m for m in re.finditer(r"<script\b([^>]*)>", html) if "src=" not in m.group(1)]
        for m in inline:
            assert f'nonce="{nonce}"' in m.group(1), (url, m.group(0))
    # a new nonce per response
    a = client.get("/admin/").headers["Content-Security-Policy"]
    b = client.get("/admin/").headers["Content-Security-Policy"]
    assert a != b


def test_session_cookie_flags_and_idle_refresh(client, world, app, db):
    rv = client.post("/login", data={"username": "shanshan", "password": PASSWORD})
    cookie = rv.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert app.config["SESSION_REFRESH_EACH_REQUEST"] is True
    again = client.get("/admin/person/")
    assert "session=" in again.headers.get("Set-Cookie", "")  # refreshed: an idle, not absolute, timeout


def test_short_password_is_refused():
    user = User(username="x")
    with pytest.raises(ValueError, match="10"):
        user.set_password("short")


def test_region_filter_options_follow_the_user(client, login, world, db):
    from tests.test_access_matrix import readable

    # The region filter is a lookup (a province holds ~2,000 townships): the list embeds none of them,
    # and the lookup answers only regions in the user's scope, by name or by id.
    login("shanshan")
    page = readable(client.get("/admin/person/").get_data(as_text=True))
    assert "田坪镇" not in page and "大科街道" not in page
    names = [text for _id, text in client.get("/admin/region-lookup?query=").get_json()]
    assert any("杉山镇" in t for t in names)  # its own township is offered
    assert not any("田坪镇" in t or "大科街道" in t for t in names)
    assert client.get(f"/admin/region-lookup?id={world.tianping.id}").get_json() == []
    login("city")
    names = [text for _id, text in client.get("/admin/region-lookup?query=田坪").get_json()]
    assert any("田坪镇" in t for t in names)  # control: computed per user, the city sees it
    assert isinstance(db.session.get(Region, world.tianping.id), Region)


def test_production_hashes_passwords_with_scrypt(app):
    """The suite hashes fixture passwords cheaply; outside it (no app, or the default config) scrypt."""
    from admin_app.config import Config
    from models import User

    assert Config.PASSWORD_HASH_METHOD == "scrypt"
    user = User(username="x")
    user.set_password("a-long-enough-password")  # no app context: the default method
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password("a-long-enough-password")
