"""Service records as work: window, handler (a staff person, picked), status, due date, follow-ups, the
open items per window and overdue items — every rule through the write gate, every way around it refused."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select

from admin_app.actor import acting_as, user_actor
from admin_app.gate import WriteRefused
from models import Appointment, Person, Post, ServiceRecord, ServiceWindow
from models.services import open_items, overdue_items, staff_of
from tests.conftest import post_type

TODAY = datetime.date.today()


def staff(db, township, name="经办员", start=datetime.date(2020, 1, 1), end=None):
    person = Person(name=name, region=township)
    post = Post(region=township, title=f"干事{name}", side="station", post_type=post_type(f"干事{name}", "station"))
    db.session.add_all([person, post, Appointment(person=person, post=post, start_on=start, end_on=end)])
    db.session.flush()
    return person


@pytest.fixture()
def desk(world, db):
    """杉山镇 and 田坪镇 each with a window, a staff handler and a veteran."""
    out = {}
    for key, township in (("home", world.shanshan), ("foreign", world.tianping)):
        window = ServiceWindow(region=township, name=f"{township.name}窗口")
        handler = staff(db, township, name=f"{township.name[:2]}经办")
        client_ = Person(name=f"{township.name[:2]}老兵", region=township)
        db.session.add_all([window, client_])
        db.session.flush()
        out[key] = {"window": window, "handler": handler, "person": client_, "township": township}
    db.session.commit()
    return out


def record(d, **kw):
    values = {"person": d["person"], "township": d["township"], "kind": "policy", "served_on": TODAY,
              "window": d["window"], "handler": d["handler"]}
    values.update(kw)
    return ServiceRecord(**values)


def test_due_date_defaults_and_closing_date_follows_the_status(db, desk):
    r = record(desk["home"])
    db.session.add(r)
    db.session.commit()
    assert r.due_on == TODAY + datetime.timedelta(days=15)
    assert r.status == "open" and r.closed_on is None
    r.status = "in_progress"
    db.session.commit()
    assert r.closed_on is None
    r.status = "done"
    db.session.commit()
    assert r.closed_on == TODAY
    r.status = "open"  # reopened: no closing date
    db.session.commit()
    assert r.closed_on is None
    report = record(desk["home"], kind="report_home")
    db.session.add(report)
    db.session.commit()
    assert report.due_on == TODAY + datetime.timedelta(days=7)


def test_due_date_before_served_on_is_refused(db, desk):
    db.session.add(record(desk["home"], due_on=TODAY - datetime.timedelta(days=1)))
    with pytest.raises(WriteRefused) as exc:
        db.session.flush()
    assert "办理时限" in exc.value.errors["due_on"]


def test_handler_must_be_staff_of_the_township(db, desk, world):
    outsider = Person(name="非工作人员", region=world.shanshan)
    db.session.add(outsider)
    db.session.commit()
    db.session.add(record(desk["home"], handler=outsider))
    with pytest.raises(WriteRefused) as exc:
        db.session.flush()
    assert "在岗工作人员" in exc.value.errors["handler"]
    db.session.rollback()
    gone = staff(db, world.shanshan, name="已离任", start=datetime.date(2020, 1, 1), end=datetime.date(2021, 1, 1))
    db.session.add(record(desk["home"], handler=gone))
    with pytest.raises(WriteRefused):
        db.session.flush()


def test_handler_and_window_of_another_township_are_refused(db, desk, world):
    """The gate's link check: a window or handler of 田坪镇 on a record of 杉山镇."""
    home, foreign = desk["home"], desk["foreign"]
    with acting_as(user_actor(world.users["shanshan"])):
        db.session.add(record(home, window=foreign["window"]))
        with pytest.raises(WriteRefused):
            db.session.flush()
        db.session.rollback()
        db.session.add(record(home, handler=foreign["handler"]))
        with pytest.raises(WriteRefused):
            db.session.flush()
        db.session.rollback()
    with acting_as(user_actor(world.users["louxing"])):  # a county admin sees both? not 田坪镇 (新化县)
        db.session.add(record(home, window=foreign["window"]))
        with pytest.raises(WriteRefused):
            db.session.flush()
        db.session.rollback()
    assert db.session.scalars(select(ServiceRecord)).all() == []


def test_follow_up_of_the_same_person_only_and_no_cycle(db, desk, world):
    home = desk["home"]
    first = record(home, kind="policy")
    db.session.add(first)
    db.session.commit()
    follow = record(home, kind="startup", parent=first)
    db.session.add(follow)
    db.session.commit()
    assert first.follow_ups == [follow]
    other = Person(name="另一人", region=world.shanshan)
    db.session.add(other)
    db.session.add(record(home, person=other, parent=first))
    with pytest.raises(WriteRefused) as exc:
        db.session.flush()
    assert "同一服务对象" in exc.value.errors["parent"]
    db.session.rollback()
    first = db.session.get(ServiceRecord, first.id)
    first.parent = db.session.get(ServiceRecord, follow.id)
    with pytest.raises(WriteRefused) as exc:
        db.session.flush()
    assert "循环" in exc.value.errors["parent"]


def test_follow_up_of_another_township_is_refused(db, desk, world):
    foreign_record = record(desk["foreign"])
    db.session.add(foreign_record)
    db.session.commit()
    with acting_as(user_actor(world.users["shanshan"])):
        db.session.add(record(desk["home"], parent=foreign_record))
        with pytest.raises(WriteRefused):
            db.session.flush()
        db.session.rollback()


def test_open_and_overdue_items_through_the_scope(db, desk, world, app):
    late = record(desk["home"], served_on=TODAY - datetime.timedelta(days=20),
                  due_on=TODAY - datetime.timedelta(days=2))
    fresh = record(desk["home"])
    closed = record(desk["home"], served_on=TODAY - datetime.timedelta(days=30),
                    due_on=TODAY - datetime.timedelta(days=20), status="done")
    foreign_late = record(desk["foreign"], served_on=TODAY - datetime.timedelta(days=20),
                          due_on=TODAY - datetime.timedelta(days=2))
    db.session.add_all([late, fresh, closed, foreign_late])
    db.session.commit()
    from admin_app.scope import Scope

    shanshan = Scope.for_user(world.users["shanshan"])
    assert {r.id for r in open_items(db.session, shanshan)} == {late.id, fresh.id}
    assert [r.id for r in overdue_items(db.session, shanshan, TODAY)] == [late.id]
    city = Scope.for_user(world.users["city"])
    assert {r.id for r in overdue_items(db.session, city, TODAY)} == {late.id, foreign_late.id}
    assert late.overdue_on(TODAY) and not fresh.overdue_on(TODAY) and not closed.overdue_on(TODAY)


def test_open_items_screen_and_dashboard(client, db, desk, world, login):
    late = record(desk["home"], served_on=TODAY - datetime.timedelta(days=20),
                  due_on=TODAY - datetime.timedelta(days=2), notes="逾期事项")
    foreign = record(desk["foreign"], notes="田坪事项")
    db.session.add_all([late, foreign])
    db.session.commit()
    login("shanshan")
    page = client.get("/admin/service-desk/").get_data(as_text=True)
    assert "杉山老兵" in page and "田坪老兵" not in page and "overdue" in page
    home = client.get("/admin/").get_data(as_text=True)
    assert 'data-overdue="1"' in home and "杉山老兵" in home and "田坪老兵" not in home
    login("viewer")  # reads the list too (city-wide viewer)
    assert "田坪老兵" in client.get("/admin/service-desk/").get_data(as_text=True)


def test_staff_of_lists_current_staff_only(db, desk, world):
    gone = staff(db, world.shanshan, name="已离任", end=datetime.date(2021, 1, 1))
    names = [p.name for p in staff_of(db.session, world.shanshan)]
    assert desk["home"]["handler"].name in names and gone.name not in names
    assert desk["foreign"]["handler"].name not in names


def test_generated_form_refuses_a_foreign_window_and_database_is_unchanged(client, db, desk, login):
    """The generated screen: a forged window id of 田坪镇 → refused, nothing written."""
    login("shanshan")
    home, foreign = desk["home"], desk["foreign"]
    rv = client.post("/admin/service_record/new/", data={
        "person": home["person"].id, "township": home["township"].id, "kind": "policy",
        "served_on": TODAY.isoformat(), "window": foreign["window"].id, "handler": home["handler"].id,
        "status": "open"})
    assert rv.status_code == 200
    db.session.expire_all()
    assert db.session.scalars(select(ServiceRecord)).all() == []
    rv = client.post("/admin/service_record/new/", data={
        "person": home["person"].id, "township": home["township"].id, "kind": "policy",
        "served_on": TODAY.isoformat(), "window": home["window"].id, "handler": home["handler"].id,
        "status": "open"})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:3000]
    db.session.expire_all()
    saved = db.session.scalars(select(ServiceRecord)).one()
    assert saved.window_id == home["window"].id and saved.handler_id == home["handler"].id
