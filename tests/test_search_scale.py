"""Indexed search (revision 0005): the same rows as the plain substring search, found through indexes.

On PostgreSQL a term of one or two characters is looked up in ``person.search_grams`` (GIN) and a longer
one with ``ILIKE`` served by trigram indexes; these tests compare every such lookup with the substring
search on the same rows, and check the plans use the indexes. Speed itself is measured in ``make bench``.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select, text

from models import Person
from models.people import search_grams
from views.base import _contains, _term_condition

NAMES = ["张建国", "李建", "王国建", "建国", "欧阳建国华", "赵A国", "Anna李", "钱 建", "孙%_国", "周洪杰", "曾海燕",
         "李春梅", "国", "诸葛亮", "阿依古丽·买买提", "AB", "ab张"]


def _people(db, world, extra: int = 150) -> list[Person]:
    rnd = random.Random(7)  # noqa: S311 - test data
    chars = "张王李赵建国华军平明伟强红英志勇杰峰刚辉春梅海燕洪曾欧阳aAbB%_ ·"
    names = NAMES + ["".join(rnd.choice(chars) for _ in range(rnd.randint(1, 5))).strip() or "甲"
                     for _ in range(extra)]
    people = [Person(name=name, region=world.shanshan) for name in names]
    db.session.add_all(people)
    db.session.flush()
    return people


def _terms(people: list[Person]) -> list[str]:
    terms = {"建国", "国", "建", "a", "A", "ab", "AB", "%", "_", "%_", "·", "zz", "杰", "海燕", "阳建", "李"}
    for person in people[:60]:
        name = person.name
        terms.update(name[i:i + n] for n in (1, 2) for i in range(len(name) - n + 1))
    return sorted(t for t in terms if t.strip() and " " not in t)


def test_search_grams_follow_the_name(db, world):
    person = Person(name="张建国", region=world.shanshan)
    assert person.search_grams == ["国", "建", "建国", "张", "张建"]
    person.name = "Anna李"
    assert person.search_grams == search_grams("anna李") == ["a", "an", "a李", "n", "na", "nn", "李"]
    db.session.add(person)
    db.session.flush()
    db.session.expire(person)
    assert person.search_grams == ["a", "an", "a李", "n", "na", "nn", "李"]  # stored and read back alike


@pytest.mark.parametrize("column", ["name", "name_pinyin", "name_initials"])
def test_indexed_search_finds_what_the_substring_search_finds(db, world, column):
    people = _people(db, world)
    field = getattr(Person, column)
    checked = 0
    for term in _terms(people) + ["zhang", "jianguo", "jg", "zj", "zjg", "hai", "建国华"]:
        indexed = set(db.session.scalars(select(Person.id).where(_term_condition(field, None, term))))
        plain = set(db.session.scalars(select(Person.id).where(_contains(field, term))))
        assert indexed == plain, (column, term)
        checked += bool(plain)
    assert checked >= 5  # the comparison found rows, not only empty sets


@pytest.mark.parametrize("column", ["name", "name_pinyin", "name_initials"])
def test_small_scope_search_finds_what_the_substring_search_finds(db, world, column):
    """A small scope's search (``plain``: an expression no index serves) finds exactly the same rows."""
    people = _people(db, world)
    field = getattr(Person, column)
    checked = 0
    for term in _terms(people) + ["zhang", "jianguo", "jg", "zj", "hai", "建国华"]:
        small = set(db.session.scalars(select(Person.id).where(_term_condition(field, None, term, plain=True))))
        plain = set(db.session.scalars(select(Person.id).where(_contains(field, term))))
        assert small == plain, (column, term)
        checked += bool(plain)
    assert checked >= 5


def test_a_clerks_search_filters_the_township_and_a_city_search_uses_the_indexes(
        client, world, login, db, monkeypatch):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the choice is made from PostgreSQL's estimate; SQLite has no such indexes")
    import views.base as base

    _people(db, world, extra=0)
    db.session.commit()
    db.session.execute(text("ANALYZE person"))
    db.session.commit()
    real, seen = base._term_condition, []

    def watched(field, alias, term, plain=False):
        seen.append(plain)
        return real(field, alias, term, plain)

    monkeypatch.setattr(base, "_term_condition", watched)
    monkeypatch.setattr(base, "SMALL_SCOPE_ROWS", 1_000)
    for user, small in (("shanshan", True), ("city", False)):
        seen.clear()
        login(user)
        page = client.get("/admin/person/?search=建国").get_data(as_text=True)
        assert seen and set(seen) == {small}, (user, seen)
        assert "张建国" in page and "欧阳建国华" in page and "李建" not in page
    monkeypatch.setattr(base, "SMALL_SCOPE_ROWS", 0)  # the estimate decides: no scope is that small
    seen.clear()
    login("shanshan")
    client.get("/admin/person/?search=建国")
    assert seen and not any(seen)


def test_list_search_of_short_chinese_terms(client, world, login, db):
    _people(db, world, extra=0)
    db.session.commit()
    login("city")
    page = client.get("/admin/person/?search=建国").get_data(as_text=True)
    for name in ("张建国", "欧阳建国华"):
        assert name in page
    for name in ("李建", "王国建", "周洪杰"):
        assert name not in page


def test_search_through_a_join_uses_the_joined_person(client, world, login, db):
    from models import VeteranProfile

    people = _people(db, world, extra=0)
    db.session.add_all([VeteranProfile(person=p) for p in people if p.name in ("张建国", "李建")])
    db.session.commit()
    login("city")
    page = client.get("/admin/veteran_profile/?search=建国").get_data(as_text=True)
    assert "张建国" in page and "李建" not in page


def test_postgresql_plans_use_the_indexes(db, world):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the indexes of revision 0005 are PostgreSQL's")
    _people(db, world)
    db.session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask whether an index CAN serve
    for term, index in (("建国", "ix_person_search_grams"), ("建国华", "ix_person_name"),
                        ("zhang", "ix_person_name_pinyin")):
        column = Person.name_pinyin if term == "zhang" else Person.name
        stmt = select(Person.id).where(_term_condition(column, None, term))
        compiled = stmt.compile(db.session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(db.session.execute(text(f"EXPLAIN {compiled}")).scalars())
        assert index in plan, plan


# -- the region filter is a lookup, scoped like everything else -------------------------------------------
def test_list_pages_carry_no_region_options_and_the_lookup_is_scoped(client, world, login, db):
    login("city")
    page = client.get("/admin/person/").get_data(as_text=True)
    assert "region-lookup:township,village" in page and "region_filter.js" in page
    assert "田坪镇" not in page  # the filter's options are no longer embedded
    found = client.get("/admin/region-lookup?query=田坪&levels=township,village").get_json()
    assert found == [[world.tianping.id, "田坪镇(431322116000)"]]

    login("shanshan")  # a clerk of 杉山镇: 田坪镇 is out of scope, by name and by id
    assert client.get("/admin/region-lookup?query=田坪").get_json() == []
    assert client.get(f"/admin/region-lookup?id={world.tianping.id}").get_json() == []
    assert client.get("/admin/region-lookup?id=99999999999999999999999").get_json() == []
    own = client.get("/admin/region-lookup?query=杉山&levels=township").get_json()
    assert [r[0] for r in own] == [world.shanshan.id]
    assert client.get(f"/admin/person/?flt0_0={world.tianping.id}").status_code == 200


def test_region_lookup_needs_a_login(client, world):
    assert client.get("/admin/region-lookup?query=杉山").status_code == 404


# -- lists at scale: deep pages by ids, estimated counts (PostgreSQL) -------------------------------------
def _row_ids(page: str) -> list[str]:
    import re

    return re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', page)


def test_deep_pages_show_the_same_rows_and_big_counts_are_estimates(client, world, login, db, monkeypatch):
    from views import listing

    db.session.add_all([Person(name=f"列表{i}", region=world.shanshan) for i in range(30)])
    db.session.commit()
    login("city")
    plain = [_row_ids(client.get(f"/admin/person/?page_size=20&page={p}").get_data(as_text=True)) for p in (0, 1)]
    assert len(plain[0]) == 20 and len(plain[1]) == 10
    assert "约" not in client.get("/admin/person/").get_data(as_text=True)
    monkeypatch.setattr(listing, "ESTIMATE_ABOVE", 5)
    monkeypatch.setattr(listing, "DEEP_OFFSET", 1)
    deep = [_row_ids(client.get(f"/admin/person/?page_size=20&page={p}").get_data(as_text=True)) for p in (0, 1)]
    assert deep == plain  # read through the ids on PostgreSQL, plainly elsewhere: the same rows
    page = client.get("/admin/person/").get_data(as_text=True)
    if db.session.get_bind().dialect.name == "postgresql":
        assert "约" in page  # the planner's estimate of a scope above the threshold
    else:
        assert "约" not in page  # SQLite always counts
