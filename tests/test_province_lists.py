"""Province scale (issue 12): deep and last pages, the scope's region ids, the region field as a lookup.

Each behaviour is checked on the database the suite runs on (SQLite, and PostgreSQL with
TEST_DATABASE_URL); speed itself is measured in ``make bench`` (bench/bench_admin_list.py).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from admin_app.scope import EDIT, VIEW, Scope
from models import Person, Region
from views import listing
from views.listing import Estimate, deep_page

ROW_RE = re.compile(r'name="rowid" class="action-checkbox" value="(\d+)"')
NAMES = ["王芳", "李强", "王芳", "张伟", "李强", "赵敏", "王芳"]  # repeated names: ties in a name sort


def _people(db, world, count: int = 37) -> list[Person]:
    people = [Person(name=NAMES[i % len(NAMES)], region=world.shanshan if i % 3 else world.dake,
                     phone=None if i % 4 == 0 else f"1380000{i:04d}") for i in range(count)]
    db.session.add_all(people)
    db.session.commit()
    return people


def _pages(query, total, limit: int, pages: int) -> list[list[int]]:
    return [[p.id for p in deep_page(query, Person, page * limit, limit, total).all()] for page in range(pages)]


# -- deep_page: from the start or from the end, the same rows ------------------------------------------------
@pytest.mark.parametrize("order", ["name", "-name", "phone", "-phone", "-id"])
def test_pages_read_from_either_end_are_the_list_in_order(db, world, monkeypatch, order):
    """Every page, read from the start or (past the middle) from the end, holds the rows of the list sorted
    by the column and then by id: ties and NULLs included, nothing repeated, nothing missed."""
    _people(db, world)
    monkeypatch.setattr(listing, "FROM_END_ABOVE", 0)
    column = getattr(Person, order.lstrip("-"))
    query = db.session.query(Person).order_by(column.desc() if order.startswith("-") else column)
    expected = [p.id for p in query.order_by(Person.id).all()]
    total = len(expected)
    pages = _pages(query, total, 10, 5)
    assert [i for page in pages for i in page] == expected
    assert pages[3] == expected[30:]  # the last page: the last 7 rows
    assert pages[4] == []  # past the end: nothing


def test_the_last_page_of_an_estimate_is_the_last_rows(db, world, monkeypatch):
    """With an estimated count the pages past the middle count from the real end: the last page the
    pager offers shows the list's last rows whether the estimate is short or long."""
    _people(db, world)
    monkeypatch.setattr(listing, "FROM_END_ABOVE", 0)
    query = db.session.query(Person).order_by(Person.id.desc())
    ids = [p.id for p in query.all()]
    for estimate in (33, 37, 45):
        last = (estimate - 1) // 10  # the pager's last page
        shown = [p.id for p in deep_page(query, Person, last * 10, 10, Estimate(estimate)).all()]
        assert shown == ids[-len(shown):] and 0 < len(shown) <= 10, estimate
        assert deep_page(query, Person, (last + 1) * 10, 10, Estimate(estimate)).all() == []


def test_the_list_screens_last_page_shows_the_last_rows(client, world, login, db, monkeypatch):
    """Through the screen: the last page (read from the end on PostgreSQL) holds the oldest people of a
    newest-first list, the same rows as counting from the start; a deep page in the first half too. The
    list counted short (read by its ids first on PostgreSQL) shows the same pages as well."""
    people = _people(db, world, 45)
    oldest_first = sorted(p.id for p in people)
    login("city")

    def pages():
        return [ROW_RE.findall(client.get(f"/admin/person/?page_size=20&page={p}").get_data(as_text=True))
                for p in range(3)]

    plain = pages()  # a short list: by its ids first (PostgreSQL)
    assert [int(i) for i in plain[2]] == sorted(oldest_first[:5], reverse=True)
    assert [int(i) for page in plain for i in page] == sorted(oldest_first, reverse=True)
    monkeypatch.setattr(listing, "SMALL_LIST", 0)
    assert pages() == plain  # plain offsets
    monkeypatch.setattr(listing, "DEEP_OFFSET", 1)
    monkeypatch.setattr(listing, "FROM_END_ABOVE", 0)
    assert pages() == plain  # from the start, and past the middle from the end
    assert ROW_RE.findall(client.get("/admin/person/?page_size=20&page=3").get_data(as_text=True)) == []


def test_the_estimated_last_page_through_the_screen(client, world, login, db, monkeypatch):
    """On PostgreSQL with an estimate ("约 N") the pager's last page holds the last rows of the list."""
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("counts are estimated on PostgreSQL only")
    people = _people(db, world, 45)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE person")
    monkeypatch.setattr(listing, "ESTIMATE_ABOVE", 5)
    monkeypatch.setattr(listing, "FROM_END_ABOVE", 0)
    monkeypatch.setattr(listing, "DEEP_OFFSET", 1)
    login("city")
    first = client.get("/admin/person/?page_size=20").get_data(as_text=True)
    assert "约" in first
    last = max(int(n) for n in re.findall(r"[?&]page=(\d+)", first))
    rows = [int(i) for i in ROW_RE.findall(
        client.get(f"/admin/person/?page_size=20&page={last}").get_data(as_text=True))]
    oldest = sorted(p.id for p in people)
    assert rows and rows == sorted(oldest[:len(rows)], reverse=True)


# -- the scope's region ids: bound as values on PostgreSQL, the same rows everywhere ------------------------
def test_scope_condition_binds_region_ids_on_postgresql_and_finds_the_same_rows(db, world):
    _people(db, world, 12)
    db.session.add(Person(name="田坪人", region=world.tianping))
    db.session.commit()
    dialect = db.session.get_bind().dialect.name
    for username in ("shanshan", "louxing", "dake", "city"):
        scope = Scope.for_user(world.users[username])
        stmt = scope.filter(select(Person.id), Person, VIEW)
        found = set(db.session.scalars(stmt))
        paths = [g.path for g in scope.grants]
        expected = {p.id for p in db.session.scalars(select(Person)) if any(p.region.path.startswith(x)
                                                                              for x in paths)}
        assert found == expected, username
        sql = str(stmt.compile(db.session.get_bind()))
        if username == "city":
            continue  # the root: no condition at all
        if dialect == "postgresql":
            assert "= ANY" in sql and "FROM region" not in sql, sql
        else:
            assert "IN (SELECT region.id" in sql, sql
    nobody = Scope.for_user(None)
    assert db.session.scalars(nobody.filter(select(Person.id), Person, EDIT)).all() == []


def test_a_region_added_after_the_scope_read_its_ids_is_in_scope(db, world):
    """The region ids a scope bound (PostgreSQL) are read again once a flush wrote a region: a township
    added under 娄星区 in the same request is inside the county admin's scope at once."""
    scope = Scope.for_user(world.users["louxing"])
    assert db.session.scalars(scope.filter(select(Person.id), Person, EDIT)).all() == []
    new_township = _region(db, world.louxing, "431302200000", "新设镇")
    person = Person(name="新镇人", region=new_township)
    db.session.add(person)
    db.session.flush()
    assert db.session.scalars(scope.filter(select(Person.id), Person, EDIT)).all() == [person.id]
    elsewhere = Scope.for_user(world.users["shanshan"])
    assert db.session.scalars(elsewhere.filter(select(Person.id), Person, EDIT)).all() == []


def _region(db, parent, code: str, name: str):
    region = Region(code=code, name=name, level="township", parent_id=parent.id, path=parent.path + code + "/")
    db.session.add(region)
    db.session.flush()
    return region


# -- the region field of a form is a scoped lookup -----------------------------------------------------------
def _person(db, world, region=None) -> Person:
    person = Person(name="赵卫国", region=region or world.shanshan)
    db.session.add(person)
    db.session.commit()
    return person


def test_the_edit_form_embeds_no_regions(client, world, login, db):
    person = _person(db, world)
    login("city")
    page = client.get(f"/admin/person/edit/?id={person.id}").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="region"[^>]*>', page).group(0)
    assert 'data-role="select2-ajax"' in field and f'value="{world.shanshan.id}"' in field
    shown = json.loads(html.unescape(re.search(r'data-json="([^"]*)"', field).group(1)))
    assert shown == [world.shanshan.id, "杉山镇(431302100000)"]  # the current region, labelled
    assert not re.search(r'<select[^>]*name="region"', page)
    assert "田坪镇" not in page and "大科街道" not in page  # other regions are not embedded


def test_the_region_lookup_offers_only_regions_in_scope(client, world, login, db):
    login("city")
    found = client.get("/admin/person/ajax/lookup/?name=region&query=田坪").get_json()
    assert found == [[world.tianping.id, "田坪镇(431322116000)"]]
    by_code = client.get("/admin/person/ajax/lookup/?name=region&query=431322116").get_json()
    assert [r[0] for r in by_code] == [world.tianping.id]
    assert len(client.get("/admin/person/ajax/lookup/?name=region&query=&limit=100000").get_json()) <= 20
    cities = client.get("/admin/person/ajax/lookup/?name=region&query=娄底").get_json()
    assert cities == []  # a person lives in a township or village: the field's levels

    login("shanshan")
    assert client.get("/admin/person/ajax/lookup/?name=region&query=田坪").get_json() == []
    offered = {r[0] for r in client.get("/admin/person/ajax/lookup/?name=region&query=").get_json()}
    assert offered == {world.shanshan.id, world.village.id}
    assert client.get("/admin/person/ajax/lookup/?name=region&query=%").get_json() == []  # literal %

    login("viewer")  # may read people, not edit them: nothing to pick
    assert client.get("/admin/person/ajax/lookup/?name=region&query=").get_json() == []


@pytest.mark.parametrize("forged", ["tianping", "city", "99999999999999999999", "abc"])
def test_a_region_out_of_scope_is_refused_and_nothing_changes(client, world, login, db, forged):
    person = _person(db, world)
    value = str(getattr(world, forged).id) if hasattr(world, forged) else forged
    login("shanshan")
    rv = client.post(f"/admin/person/edit/?id={person.id}",
                     data={"name": "赵卫东", "region": value, "row_version": 1})
    assert rv.status_code == 200  # the form again, with the error
    db.session.expire_all()
    stored = db.session.get(Person, person.id)
    assert (stored.name, stored.region_id, stored.version) == ("赵卫国", world.shanshan.id, 1)

    count = db.session.query(Person).count()
    rv = client.post("/admin/person/new/", data={"name": "钱多多", "region": value})
    assert rv.status_code == 200
    assert db.session.query(Person).count() == count


def test_a_region_in_scope_is_taken(client, world, login, db):
    person = _person(db, world)
    login("shanshan")
    rv = client.post(f"/admin/person/edit/?id={person.id}",
                     data={"name": "赵卫东", "region": str(world.village.id), "row_version": 1})
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).region_id == world.village.id


def test_an_import_naming_a_region_two_share_asks_which(client, world, login, db):
    """The import resolves a region cell through the same lookup: a name two townships in scope share is
    refused as ambiguous (not with the advice meant for namesake people), nothing is written."""
    from tests.test_import import HEADER, _xlsx

    _region(db, world.xinhua, "431322117000", "杉山镇")  # a namesake in another county
    db.session.commit()
    login("city")
    rows = [HEADER, ["李一", "", "杉山镇", "群众", ""], ["李二", "", "田坪镇", "群众", ""]]
    rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "people.xlsx")},
                     content_type="multipart/form-data")
    page = rv.get_data(as_text=True)
    assert "“杉山镇”有重名,无法确定是哪一个" in page and "请改填公民身份号码" not in page
    assert db.session.query(Person).count() == 0
