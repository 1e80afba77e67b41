"""The foundation's smoke checks: health, login required, login itself."""

from models import Person


def test_healthz(client):
    assert client.get("/healthz").status_code == 200


def test_admin_requires_login(client, world):
    rv = client.get("/admin/person/")
    assert rv.status_code == 302
    assert "/login" in rv.location


def test_wrong_password_is_refused(client, world):
    rv = client.post("/login", data={"username": "shanshan", "password": "wrong-password"})
    assert rv.status_code == 401
    assert "用户名或密码错误" in rv.get_data(as_text=True)
    assert client.get("/admin/person/").status_code == 302


def test_clerk_creates_person_and_finds_by_pinyin(client, world, login, db):
    login("shanshan")
    rv = client.post("/admin/person/new/", data={"name": "周洪杰", "region": str(world.shanshan.id)})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    assert db.session.query(Person).filter_by(name="周洪杰").count() == 1
    for term in ("zhj", "zhouhongjie", "洪杰"):
        page = client.get(f"/admin/person/?search={term}").get_data(as_text=True)
        assert "周洪杰" in page, term


def test_bad_id_number_is_a_field_error_and_saves_nothing(client, world, login, db):
    login("shanshan")
    rv = client.post("/admin/person/new/", data={"name": "李四", "region": str(world.shanshan.id),
                                                "id_number": "431302199001010019"})
    assert rv.status_code == 200
    assert "公民身份号码校验位错误" in rv.get_data(as_text=True)
    assert db.session.query(Person).count() == 0


def test_lists_follow_the_sort_in_the_schema(client, world, login, db):
    """``"sort": "-served_on"`` lists newest first; ``"sort": "code"`` lists regions by code."""
    import datetime

    from models import ServiceRecord

    person = Person(name="欧阳明", region=world.shanshan)
    db.session.add(person)
    for day, note in ((1, "最早一件"), (20, "最新一件"), (10, "中间一件")):
        db.session.add(ServiceRecord(person=person, township=world.shanshan, kind="visit",
                                     served_on=datetime.date(2026, 3, day), notes=note, handler_note=note))
    db.session.commit()
    login("shanshan")
    page = client.get("/admin/service_record/").get_data(as_text=True)
    assert page.index("2026-03-20") < page.index("2026-03-10") < page.index("2026-03-01")
    login("city")
    page = client.get("/admin/region/").get_data(as_text=True)
    assert page.index("431302005000") < page.index("431302100000") < page.index("431322116000")
