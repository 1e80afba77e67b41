"""The generated person list: constant SQL per page (N+1 guard) and the cheap list template's features.

Statements are counted with a ``before_cursor_execute`` listener on the engine; the figures compared
are measured, not hard-coded.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from models import Person, Region

ROW_RE = re.compile(r'name="rowid" class="action-checkbox" value="(\d+)"')


@contextmanager
def counted(engine):
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _regions(world, db):
    """Ten villages under 杉山镇 plus the other townships, so rows point at many different regions
    (rows sharing one region would hide an N+1 behind the identity map)."""
    villages = []
    for i in range(2, 12):
        code = f"4313021002{i:02d}"
        village = Region(code=code, name=f"杉山{i}村", level="village", parent_id=world.shanshan.id,
                         path=world.shanshan.path + code + "/")
        db.session.add(village)
        villages.append(village)
    db.session.commit()
    return [world.shanshan, *villages], [world.dake, world.tianping]


def _add_people(db, regions, start: int, count: int) -> None:
    for i in range(start, start + count):
        db.session.add(Person(name=f"测试{i:03d}", region=regions[i % len(regions)], phone="13800000000",
                              id_number=None, political_status="masses", gender="male"))
    db.session.commit()


def _list(client, db) -> tuple[int, int, str]:
    with counted(db.engine) as statements:
        rv = client.get("/admin/person/?page_size=100")
    assert rv.status_code == 200
    page = rv.get_data(as_text=True)
    return len(statements), len(ROW_RE.findall(page)), page


@pytest.mark.parametrize("username", ["shanshan", "city"])
def test_person_list_queries_do_not_grow_with_rows(client, world, login, db, username):
    own, others = _regions(world, db)
    regions = own if username == "shanshan" else own + others
    _add_people(db, regions, 0, 5)
    login(username)
    small_queries, small_rows, _ = _list(client, db)
    assert small_rows == 5

    _add_people(db, regions, 5, 55)
    big_queries, big_rows, page = _list(client, db)
    assert big_rows == 60
    # Region names are shown for rows of many different regions, still without a query per row.
    assert "杉山11村" in page and "杉山2村" in page
    assert big_queries == small_queries, (small_queries, big_queries)


def test_clerk_list_shows_only_own_township_rows(client, world, login, db):
    own, others = _regions(world, db)
    _add_people(db, own + others, 0, 24)
    login("shanshan")
    _, rows, page = _list(client, db)
    mine = db.session.query(Person).filter(Person.region_id.in_([r.id for r in own])).count()
    assert rows == mine < 24
    assert "大科街道" not in page.split("<tbody", 1)[-1].split("</table>", 1)[0]


def test_list_page_keeps_search_filters_pager_export_and_actions(client, world, login, db):
    own, _ = _regions(world, db)
    _add_people(db, own, 0, 60)
    login("shanshan")
    page = client.get("/admin/person/").get_data(as_text=True)
    assert 'name="search"' in page
    assert 'id="filter-groups-data"' in page and "所属乡镇/村" in page
    assert 'class="pagination' in page and "page=1" in page
    assert "/admin/person/export/csv/" in page
    assert 'id="action_form"' in page and 'class="action-checkbox"' in page
    ids = ROW_RE.findall(page)
    assert len(ids) == 50
    # view/edit links and a delete button per row, one shared delete form
    for pk in ids[:3]:
        for screen in ("details", "edit"):
            assert re.search(rf'href="/admin/person/{screen}/\?url=[^"&]*&amp;id={pk}"', page), (screen, pk)
        assert f'form="row-delete-form" name="id" value="{pk}"' in page
    assert page.count('id="row-delete-form"') == 1


def test_viewer_list_has_no_edit_or_delete(client, world, login, db):
    own, _ = _regions(world, db)
    _add_people(db, own, 0, 3)
    login("viewer")
    page = client.get("/admin/person/").get_data(as_text=True)
    assert page.count("/admin/person/details/?url=") == 3
    assert "/admin/person/edit/" not in page
    assert "row-delete-form" not in page


@contextmanager
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def _delete_form_fields(page: str) -> dict[str, str]:
    form = page.split('id="row-delete-form"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="(csrf_token|url)" type="hidden" value="([^"]*)"', form)
                + re.findall(r'type="hidden" name="(csrf_token|url)" value="([^"]*)"', form)
                + re.findall(r'name="(csrf_token|url)" value="([^"]*)"', form))


def test_delete_from_list_with_csrf(app, client, world, login, db):
    own, _ = _regions(world, db)
    _add_people(db, own, 0, 3)
    victim = db.session.query(Person).order_by(Person.id).first().id
    with csrf_on(app):
        login_page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
        assert client.post("/login", data={"username": "shanshan", "password": "yibuyizhan-demo",
                                           "csrf_token": token}).status_code == 302
        page = client.get("/admin/person/").get_data(as_text=True)
        fields = _delete_form_fields(page)
        assert fields.get("csrf_token")

        # Without the token: refused, nothing deleted.
        rv = client.post("/admin/person/delete/", data={"id": str(victim), "url": "/admin/person/"})
        assert rv.status_code == 400
        db.session.expire_all()
        assert db.session.get(Person, victim) is not None

        # With the page's token, as the row's button submits it: deleted.
        rv = client.post("/admin/person/delete/", data={**fields, "id": str(victim)})
        assert rv.status_code == 302
        db.session.expire_all()
        assert db.session.get(Person, victim) is None
        assert db.session.query(Person).count() == 2


def test_delete_from_list_refuses_another_townships_row(app, client, world, login, db):
    _add_people(db, [world.dake], 0, 2)
    foreign = db.session.query(Person).order_by(Person.id).first().id
    _add_people(db, [world.shanshan], 2, 1)
    with csrf_on(app):
        login_page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
        client.post("/login", data={"username": "shanshan", "password": "yibuyizhan-demo",
                                    "csrf_token": token})
        fields = _delete_form_fields(client.get("/admin/person/").get_data(as_text=True))
        rv = client.post("/admin/person/delete/", data={**fields, "id": str(foreign)})
        assert rv.status_code == 404
    db.session.expire_all()
    assert db.session.get(Person, foreign) is not None
    assert db.session.query(Person).count() == 3
