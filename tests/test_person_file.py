"""一人一档: one page per person, each part through the scope, identity masked per the policy; person
pickers and the person list tell namesakes apart (village and ID tail)."""

from __future__ import annotations

import datetime

from sqlalchemy import select

from models import AuditLog, MilitiaMembership, Person, Qualification, ServiceRecord, VeteranProfile
from tests.test_access_matrix import id_number


def make_person(db, region, name="张伟", seq=17, **kw):
    person = Person(name=name, region=region, id_number=id_number(region.code[:6], "19900215", seq),
                    phone="13812345678", address="湖南省娄底市某路1号", **kw)
    db.session.add(person)
    db.session.flush()
    return person


def test_file_shows_every_part_and_history(client, db, world, login):
    p = make_person(db, world.village)
    db.session.add_all([
        VeteranProfile(person=p, specialty="无人机操控", reported_home_on=datetime.date(2026, 3, 6)),
        Qualification(person=p, kind="paf_cadre", passed_on=datetime.date(2024, 1, 1), certificate_no="Z-1"),
        ServiceRecord(person=p, township=world.shanshan, kind="policy", notes="咨询"),
        MilitiaMembership(person=p, township=world.shanshan, year=2012, category="core", unit_type="squad"),
    ])
    db.session.commit()
    login("shanshan")
    page = client.get(f"/admin/people/{p.id}").get_data(as_text=True)
    for text in ("张伟", "杉山村", "无人机操控", "Z-1", "政策咨询", "2012", "基干民兵", p.id_number):
        assert text in page, text
    assert "/admin/person/edit/" in page and "/admin/veteran_profile/edit/" in page
    history = page.split("变更记录", 1)[1]
    assert "veteran_profile" in history and "service_record" in history


def test_identity_is_masked_without_the_right(client, db, world, login):
    p = make_person(db, world.shanshan)
    db.session.commit()
    login("viewer")
    page = client.get(f"/admin/people/{p.id}").get_data(as_text=True)
    assert p.id_number not in page and "13812345678" not in page and "1990-02-15" not in page
    assert p.id_number[-4:] in page and "138****5678" in page
    assert "/admin/person/edit/" not in page  # a viewer gets no edit links


def test_file_of_another_township_is_404(client, db, world, login):
    p = make_person(db, world.tianping)
    db.session.commit()
    for user in ("shanshan", "dake", "louxing"):
        login(user)
        assert client.get(f"/admin/people/{p.id}").status_code == 404, user
    assert client.get("/admin/people/99999999999999999999").status_code in (400, 404)
    login("city")
    assert client.get(f"/admin/people/{p.id}").status_code == 200


def test_parts_of_other_townships_are_not_shown(client, db, world, login):
    """After a 户籍迁入 the person's earlier militia year stays in the sending township's roster: the
    receiving township's file does not show it, nor its history."""
    from admin_app.actor import acting_as, user_actor
    from models import Transfer
    from views.intake import hand_over

    p = make_person(db, world.tianping)
    db.session.add(MilitiaMembership(person=p, township=world.tianping, year=2012, category="core",
                                     unit_type="squad"))
    db.session.add(Transfer(person=p, from_township=world.tianping, to_township=world.shanshan))
    db.session.commit()
    with acting_as(user_actor(world.users["tianping"])):
        hand_over(db.session.scalars(select(Transfer)).one(), world.users["tianping"].id)
        db.session.commit()
    login("shanshan")
    page = client.get(f"/admin/people/{p.id}").get_data(as_text=True)
    assert "张伟" in page and "2012" not in page.split("民兵编组", 1)[1].split("变更记录", 1)[0]
    foreign = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "militia_membership")).all()
    assert foreign
    for entry in foreign:
        assert f"/admin/audit_log/details/?id={entry.id}" not in page
    login("city")
    assert "2012" in client.get(f"/admin/people/{p.id}").get_data(as_text=True)


def test_picker_and_list_tell_namesakes_apart(client, db, world, login):
    a = make_person(db, world.village, seq=17)
    b = make_person(db, world.shanshan, seq=19)
    make_person(db, world.tianping, seq=21)
    db.session.commit()
    login("shanshan")
    rv = client.get("/admin/service_record/ajax/lookup/?name=person&query=张伟")
    labels = [row[1] for row in rv.get_json()]
    assert sorted(labels) == sorted([f"张伟 · 杉山村 · …{a.id_number[-4:]}", f"张伟 · 杉山镇 · …{b.id_number[-4:]}"])
    page = client.get("/admin/person/").get_data(as_text=True)
    assert f"/admin/people/{a.id}" in page and f"…{a.id_number[-4:]}" in page and "杉山村" in page
