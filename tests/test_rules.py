"""Appointment rules: the 专职人民武装干部资格 qualification (report rule 2) and the date order, through the
form (field errors next to the field, nothing saved) and on the model."""

from __future__ import annotations

import datetime
import re

import pytest

from models import Appointment, Person, Post, Qualification
from tests.conftest import post_type

QUAL_MESSAGE = "没有有效的“专职人民武装干部资格”"


def field_group(html: str, name: str) -> str:
    """The form group (label, input, messages) of the field ``name`` on a rendered form."""
    for chunk in html.split('<div class="form-group')[1:]:
        if re.search(rf'\bname="{re.escape(name)}"', chunk):
            return chunk
    raise AssertionError(f"field {name} not on the page")


@pytest.fixture()
def office(db, world):
    """杉山镇's 副部长 post (qualification required), its station head, and a 田坪镇 post."""
    s = db.session
    deputy_type = post_type("武装部副部长", qualification="paf_cadre")
    deputy = Post(region=world.shanshan, title="武装部副部长", side="armed_forces", post_type=deputy_type)
    clerk_post = Post(region=world.shanshan, title="干事(征兵)", side="armed_forces",
                      post_type=post_type("干事(征兵)", headcount=3))
    other = Post(region=world.tianping, title="武装部副部长", side="armed_forces", post_type=deputy_type)
    head = Person(name="曾红梅", region=world.shanshan)
    s.add_all([deputy, clerk_post, other, head])
    s.commit()
    return {"deputy": deputy, "clerk_post": clerk_post, "other": other, "head": head}


def appoint(client, post, person, start="2024-03-01", end="", concurrent=True):
    data = {"post": str(post.id), "person": str(person.id), "start_on": start, "end_on": end}
    if concurrent:
        data["concurrent"] = "y"
    return client.post("/admin/appointment/new/", data=data)


def count(db, model) -> int:
    db.session.expire_all()
    return db.session.query(model).count()


def test_unqualified_station_head_cannot_hold_deputy_post(client, login, db, office):
    login("shanshan")
    rv = appoint(client, office["deputy"], office["head"])
    assert rv.status_code == 200
    group = field_group(rv.get_data(as_text=True), "person")
    assert QUAL_MESSAGE in group
    assert "资格认证" in group  # tells the clerk what to do
    assert count(db, Appointment) == 0


def test_qualified_station_head_may_hold_deputy_post_concurrently(client, login, db, office):
    db.session.add(Qualification(person_id=office["head"].id, kind="paf_cadre",
                                 passed_on=datetime.date(2023, 9, 20), certificate_no="LD-2023-001"))
    db.session.commit()
    login("shanshan")
    rv = appoint(client, office["deputy"], office["head"])
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    saved = db.session.query(Appointment).one()
    assert (saved.post_id, saved.person_id, saved.concurrent) == (office["deputy"].id, office["head"].id, True)


@pytest.mark.parametrize("passed_on,valid_until,kind", [
    (datetime.date(2024, 6, 1), None, "paf_cadre"),                          # passed after the start
    (datetime.date(2019, 1, 1), datetime.date(2023, 12, 31), "paf_cadre"),   # expired before the start
    (datetime.date(2023, 1, 1), None, "other"),                              # another kind of qualification
])
def test_qualification_must_be_valid_on_the_start_date(client, login, db, office, passed_on, valid_until,
                                                       kind):
    db.session.add(Qualification(person_id=office["head"].id, kind=kind, passed_on=passed_on,
                                 valid_until=valid_until))
    db.session.commit()
    login("shanshan")
    rv = appoint(client, office["deputy"], office["head"], start="2024-03-01")
    assert rv.status_code == 200
    assert QUAL_MESSAGE in field_group(rv.get_data(as_text=True), "person")
    assert count(db, Appointment) == 0


def test_post_without_requirement_needs_no_qualification(client, login, db, office):
    login("shanshan")
    rv = appoint(client, office["clerk_post"], office["head"], concurrent=False)
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    assert count(db, Appointment) == 1


def test_end_before_start_is_refused(client, login, db, office):
    login("shanshan")
    rv = appoint(client, office["clerk_post"], office["head"], start="2024-03-01", end="2024-02-28")
    assert rv.status_code == 200
    assert "离任日期不能早于任职日期" in field_group(rv.get_data(as_text=True), "end_on")
    assert count(db, Appointment) == 0


def test_editing_away_the_rule_is_refused_too(client, login, db, office):
    """An existing appointment to a post without requirement cannot be moved onto the 副部长 post."""
    appointment = Appointment(post=office["clerk_post"], person=office["head"],
                              start_on=datetime.date(2024, 3, 1))
    db.session.add(appointment)
    db.session.commit()
    login("shanshan")
    rv = client.post(f"/admin/appointment/edit/?id={appointment.id}", data={
        "post": str(office["deputy"].id), "person": str(office["head"].id), "start_on": "2024-03-01",
        "end_on": "", "row_version": str(appointment.version)})
    assert rv.status_code == 200
    assert QUAL_MESSAGE in field_group(rv.get_data(as_text=True), "person")
    db.session.expire_all()
    assert db.session.get(Appointment, appointment.id).post_id == office["clerk_post"].id


def test_post_of_another_township_is_refused(client, login, db, office, world):
    """A forged post id from 田坪镇: refused, nothing saved, even with a valid qualification."""
    db.session.add(Qualification(person_id=office["head"].id, kind="paf_cadre",
                                 passed_on=datetime.date(2023, 9, 20)))
    db.session.commit()
    login("shanshan")
    rv = appoint(client, office["other"], office["head"])
    assert rv.status_code in (200, 400, 404)
    assert count(db, Appointment) == 0


def test_model_check_messages(db, office):
    appointment = Appointment(post=office["deputy"], person=office["head"], start_on=datetime.date(2024, 3, 1),
                              end_on=datetime.date(2024, 1, 1))
    db.session.add(appointment)
    with db.session.no_autoflush:  # the gate runs check() inside the flush; outside one, don't autoflush
        errors = appointment.check()
    assert errors["end_on"] == "离任日期不能早于任职日期"
    assert QUAL_MESSAGE in errors["person"]
    db.session.rollback()
