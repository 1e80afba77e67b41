"""民兵整组: units, the membership rules on every path, roll-over (screen and CLI), candidates and 编入,
the 整组 status, the militia prints and rule 3 at village level. Every new route is tried with another
township's id (404, database unchanged)."""

from __future__ import annotations

import datetime
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from admin_app.actor import acting_as, user_actor
from admin_app.gate import WriteRefused
from models import (
    Appointment,
    MilitiaMembership,
    MilitiaSettings,
    MilitiaUnit,
    Person,
    Post,
    Room,
    ServiceWindow,
    VeteranProfile,
)
from models.militia import age_in_year, candidates, rollover, roster_diff
from tests.conftest import count_rows, make_region, post_type
from tests.test_access_matrix import id_number, snapshot

YEAR = 2026
LAST = YEAR - 1


def born_aged(age: int, year: int = YEAR) -> str:
    """A birth date (YYYYMMDD) giving ``age`` full years on 30 June of ``year``."""
    return f"{year - age}0315"


_seq = iter(range(100, 999))


def person(db, region, name: str, age: int | None, *, veteran: dict | None = None, female: bool = False) -> Person:
    number = None
    if age is not None:
        seq = next(_seq) * 2 % 1000 + (0 if female else 1)
        number = id_number("431302", born_aged(age), seq)
    p = Person(name=name, region=region, id_number=number)
    db.session.add(p)
    if veteran is not None:
        db.session.add(VeteranProfile(person=p, **veteran))
    db.session.flush()
    return p


def unit(db, township, name: str, kind: str = "squad", year: int = YEAR, **kw) -> MilitiaUnit:
    u = MilitiaUnit(township=township, year=year, kind=kind, name=name, **kw)
    db.session.add(u)
    db.session.flush()
    return u


def member(db, p, township, *, year: int = YEAR, category: str = "core", u: MilitiaUnit | None = None, **kw):
    m = MilitiaMembership(person=p, township=township, year=year, category=category, unit=u,
                          unit_type=u.kind if u else kw.pop("unit_type", "company"), **kw)
    db.session.add(m)
    return m


def refused(db, match: str):
    with pytest.raises(WriteRefused, match=match):
        db.session.flush()
    db.session.rollback()


# -- the membership rules (check(): every path) ------------------------------------------------------------

def test_age_is_counted_on_30_june():
    assert age_in_year(datetime.date(2000, 6, 30), 2026) == 26
    assert age_in_year(datetime.date(2000, 7, 1), 2026) == 25
    assert age_in_year(None, 2026) is None


def test_a_63_year_old_is_refused_in_the_emergency_detachment(db, world):
    old = person(db, world.shanshan, "老兵", 63, veteran={"specialty": "通信"})
    detachment = unit(db, world.shanshan, "应急分队", "emergency")
    db.session.commit()
    before = snapshot(db)
    member(db, old, world.shanshan, u=detachment)
    refused(db, "63 周岁")
    assert snapshot(db) == before


@pytest.mark.parametrize(("age", "category", "veteran", "ok"), [
    (17, "ordinary", False, False), (18, "ordinary", False, True), (35, "ordinary", False, True),
    (36, "ordinary", False, False), (28, "core", False, True), (29, "core", False, False),
    (35, "core", True, True), (36, "core", True, False),
])
def test_age_limits_by_category_and_veteran_status(db, world, age, category, veteran, ok):
    p = person(db, world.shanshan, f"民兵{age}", age, veteran={"specialty": "驾驶"} if veteran else None)
    member(db, p, world.shanshan, category=category)
    if ok:
        db.session.flush()
    else:
        refused(db, f"{age} 周岁")


def test_city_settings_change_the_limits_and_are_validated(db, world):
    db.session.add(MilitiaSettings(city=world.city, min_age=18, max_age=40, core_max_age=30,
                                   veteran_core_max_age=40))
    db.session.flush()
    p = person(db, world.shanshan, "三十", 30)
    member(db, p, world.shanshan, category="core")
    db.session.flush()  # 30 is within this city's core limit
    db.session.rollback()
    db.session.add(MilitiaSettings(city=world.city, min_age=30, max_age=20, core_max_age=25,
                                   veteran_core_max_age=25))
    refused(db, "最低年龄")


def test_emergency_detachment_needs_core_and_a_birth_date(db, world):
    detachment = unit(db, world.shanshan, "应急分队", "emergency")
    unknown = person(db, world.shanshan, "无号码", None)
    member(db, unknown, world.shanshan, u=detachment)
    refused(db, "没有出生日期")
    detachment = unit(db, world.shanshan, "应急分队", "emergency")
    young = person(db, world.shanshan, "普通", 22)
    member(db, young, world.shanshan, category="ordinary", u=detachment)
    refused(db, "基干民兵")


def test_one_membership_a_year_also_within_one_flush(db, world):
    p = person(db, world.shanshan, "重复", 24)
    db.session.commit()
    before = snapshot(db)
    member(db, p, world.shanshan)
    member(db, p, world.shanshan, category="ordinary")
    refused(db, "每年只能登记一次")
    assert snapshot(db) == before
    member(db, p, world.shanshan)
    db.session.commit()
    member(db, p, world.shanshan, category="ordinary")
    refused(db, "每年只能登记一次")
    member(db, p, world.shanshan, year=LAST)
    db.session.flush()  # another year is fine


def test_unit_year_and_kind_follow_the_unit(db, world):
    squad = unit(db, world.shanshan, "一班", "squad", year=LAST)
    p = person(db, world.shanshan, "跨年", 24)
    db.session.commit()
    member(db, p, world.shanshan, u=squad)
    refused(db, "2025 年度的单位")
    squad = unit(db, world.shanshan, "一班", "squad")
    m = MilitiaMembership(person=p, township=world.shanshan, year=YEAR, category="core", unit=squad,
                          unit_type="emergency")
    db.session.add(m)
    db.session.flush()
    assert m.unit_type == "squad"  # the unit decides the 编组


def test_unit_rules(db, world):
    company = unit(db, world.shanshan, "基干民兵连", "company")
    squad = unit(db, world.shanshan, "一班", "squad", parent=company)
    db.session.commit()
    company.parent = squad
    refused(db, "连不能隶属于班")
    old = unit(db, world.shanshan, "旧连", "company", year=LAST)
    db.session.add(MilitiaUnit(township=world.shanshan, year=YEAR, kind="squad", name="二班", parent=old))
    refused(db, "2025 年度")
    db.session.add(MilitiaUnit(township=world.shanshan, year=YEAR, kind="squad", name="一班"))
    refused(db, "已有名为“一班”的单位")
    db.session.add_all([MilitiaUnit(township=world.shanshan, year=YEAR, kind="squad", name="三班"),
                        MilitiaUnit(township=world.shanshan, year=YEAR, kind="squad", name="三班 ")])
    refused(db, "已有名为“三班”的单位")
    db.session.add(MilitiaUnit(township=world.shanshan, year=YEAR, kind="squad", name="  "))
    refused(db, "请填写单位名称")


def test_a_unit_leader_of_another_township_and_a_unit_with_members_are_refused(db, world):
    stranger = person(db, world.dake, "外镇", 30)
    with acting_as(user_actor(world.users["louxing"])):
        db.session.add(MilitiaUnit(township=world.shanshan, year=YEAR, kind="company", name="连", leader=stranger))
        refused(db, "其他乡镇")
    squad = unit(db, world.shanshan, "一班")
    member(db, person(db, world.shanshan, "班员", 22), world.shanshan, u=squad)
    db.session.commit()
    db.session.delete(squad)
    refused(db, "关联记录")


def test_the_form_refuses_the_63_year_old_and_writes_nothing(client, login, db, world):
    old = person(db, world.shanshan, "老兵", 63, veteran={"specialty": "通信"})
    detachment = unit(db, world.shanshan, "应急分队", "emergency")
    db.session.commit()
    login("shanshan")
    before = snapshot(db)
    rv = client.post("/admin/militia_membership/new/", data={
        "person": str(old.id), "township": str(world.shanshan.id), "year": str(YEAR), "category": "core",
        "unit": str(detachment.id), "unit_type": "emergency", "role": "member", "status": "confirmed",
        "fit": "y"})
    assert rv.status_code == 200 and "63 周岁" in rv.get_data(as_text=True)
    assert snapshot(db) == before


def test_the_import_refuses_the_63_year_old_and_writes_nothing(client, login, db, world):
    import openpyxl

    old = person(db, world.shanshan, "老兵", 63, veteran={"specialty": "通信"})
    db.session.commit()
    login("shanshan")
    template = client.get("/admin/militia_membership/import/template.xlsx")
    assert template.status_code == 200
    headers = [c.value for c in next(openpyxl.load_workbook(io.BytesIO(template.data)).active.iter_rows(max_row=1))]
    values = {"人员": old.id_number, "乡镇/街道": world.shanshan.name, "整组年度": YEAR, "民兵类别": "基干民兵",
              "编组": "应急分队", "职务": "队员", "整组状态": "已确认", "身体条件合格": "是"}
    book = openpyxl.Workbook()
    book.active.append(headers)
    book.active.append([values.get(str(h), "") for h in headers])
    data = io.BytesIO()
    book.save(data)
    before = snapshot(db)
    rv = client.post("/admin/militia_membership/import/", data={"file": (io.BytesIO(data.getvalue()), "m.xlsx")},
                     content_type="multipart/form-data")
    client.post("/admin/militia_membership/import/confirm/", data={})
    assert rv.status_code in (200, 400, 409, 422)
    assert "63 周岁" in rv.get_data(as_text=True)
    assert snapshot(db) == before
    assert count_rows(MilitiaMembership) == 0


# -- roll-over ------------------------------------------------------------------------------------------------

@pytest.fixture()
def last_year(db, world):
    """Last year's roster of 杉山镇: a squad and the emergency detachment, and members who stay, age out,
    moved away, are unfit, or outgrow the core age."""
    t = world.shanshan
    squad = unit(db, t, "一班", "squad", year=LAST, planned_size=4)
    detachment = unit(db, t, "应急分队", "emergency", year=LAST, planned_size=6)
    people = {
        "留任": person(db, t, "留任", 25),
        "退伍骨干": person(db, world.village, "退伍骨干", 30, veteran={"specialty": "卫生救护"}),
        "超龄": person(db, t, "超龄", 36),
        "迁出": person(db, t, "迁出", 24),
        "体检": person(db, t, "体检", 23),
        "转普通": person(db, t, "转普通", 29),
    }
    member(db, people["留任"], t, year=LAST, u=squad, role="squad_leader")
    member(db, people["退伍骨干"], t, year=LAST, u=detachment)
    member(db, people["超龄"], t, year=LAST, category="ordinary")
    member(db, people["迁出"], t, year=LAST, u=squad)
    member(db, people["体检"], t, year=LAST, u=squad, fit=False)
    member(db, people["转普通"], t, year=LAST, u=squad)
    db.session.flush()
    people["迁出"].region = world.dake
    db.session.commit()
    return people


def test_rollover_copies_as_pending_and_flags_who_left(db, world, last_year):
    result = rollover(db.session, world.shanshan, LAST, YEAR)
    db.session.commit()
    assert sorted(u.name for u in result.units_created) == ["一班", "应急分队"]
    made = {m.person.name: m for m in result.created}
    assert set(made) == {"留任", "退伍骨干", "体检", "转普通"}
    assert all(m.status == "pending" and m.year == YEAR for m in made.values())
    assert made["留任"].unit.name == "一班" and made["留任"].unit.year == YEAR and made["留任"].role == "squad_leader"
    assert made["退伍骨干"].unit.kind == "emergency" and made["退伍骨干"].category == "core"
    assert made["转普通"].category == "ordinary" and "改为普通民兵" in made["转普通"].review_note
    assert "身体条件不合格" in made["体检"].review_note
    left = {lv.membership.person.name: lv.reason for lv in result.left_out}
    assert left == {"超龄": "超龄(36 周岁)", "迁出": "已迁出本乡镇"}
    diff = roster_diff(db.session, world.shanshan, YEAR)
    assert {lv.membership.person.name for lv in diff.leaves} == {"超龄", "迁出"}
    assert diff.joins == []
    again = rollover(db.session, world.shanshan, LAST, YEAR)
    assert not again.created and not again.units_created and again.already == 4


def test_rollover_screen_confirm_remove_move_and_diff(client, login, db, world, last_year):
    login("shanshan")
    code = world.shanshan.code
    rv = client.post(f"/admin/militia/{code}/{YEAR}/rollover")
    assert rv.status_code == 303
    db.session.expire_all()
    pending = {m.person.name: m for m in db.session.scalars(select(MilitiaMembership).where(
        MilitiaMembership.year == YEAR))}
    assert len(pending) == 4 and all(m.status == "pending" for m in pending.values())
    page = client.get(f"/admin/militia/{code}/{YEAR}/").get_data(as_text=True)
    assert "进行中" in page and "超龄(36 周岁)" in page and "已迁出本乡镇" in page
    # confirm, remove, move
    keep = pending["留任"]
    keep_id, unfit_id = keep.id, pending["体检"].id
    assert client.post(f"/admin/militia/membership/{keep.id}", data={"action": "confirm",
                                                                       "row_version": keep.version}).status_code == 303
    unfit = pending["体检"]
    assert client.post(f"/admin/militia/membership/{unfit.id}", data={"action": "remove"}).status_code == 303
    moving = pending["转普通"]
    detachment = db.session.scalars(select(MilitiaUnit).where(MilitiaUnit.year == YEAR,
                                                              MilitiaUnit.kind == "emergency")).one()
    # moving a 29-year-old non-veteran into the emergency detachment as core is refused by the gate
    before = snapshot(db)
    rv = client.post(f"/admin/militia/membership/{moving.id}", data={
        "action": "move", "unit_id": str(detachment.id), "category": "core", "role": "member"},
        follow_redirects=True)
    assert "29 周岁" in rv.get_data(as_text=True)
    assert snapshot(db) == before
    db.session.expire_all()
    assert db.session.get(MilitiaMembership, keep_id).status == "confirmed"
    assert db.session.get(MilitiaMembership, unfit_id) is None
    page = client.get(f"/admin/militia/{code}/{YEAR}/").get_data(as_text=True)
    assert "体检:未续编" in page.replace("(已移出名册)", "")


def test_confirm_all_skips_flagged_rows(client, login, db, world, last_year):
    login("shanshan")
    code = world.shanshan.code
    client.post(f"/admin/militia/{code}/{YEAR}/rollover")
    client.post(f"/admin/militia/{code}/{YEAR}/confirm-all")
    db.session.expire_all()
    status = {m.person.name: m.status for m in db.session.scalars(select(MilitiaMembership).where(
        MilitiaMembership.year == YEAR))}
    assert status == {"留任": "confirmed", "退伍骨干": "confirmed", "体检": "pending", "转普通": "pending"}


def test_cli_rollover_honours_as_user_and_scope(app, db, world, last_year):
    runner = app.test_cli_runner()
    args = ["militia", "rollover", "--region", world.shanshan.code, "--from", str(LAST), "--to", str(YEAR)]
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and "--as" in result.output
    before = snapshot(db)
    result = runner.invoke(args=[*args, "--as", "dake"])
    assert result.exit_code != 0 and "授权范围" in result.output
    assert snapshot(db) == before
    result = runner.invoke(args=[*args, "--as", "shanshan"])
    assert result.exit_code == 0, result.output
    output = result.output.replace(" ", "")
    assert "转入4人" in output and "超龄:超龄(36周岁)" in output and "迁出:已迁出本乡镇" in output
    db.session.expire_all()
    assert count_rows(MilitiaMembership) == 6 + 4
    result = runner.invoke(args=["militia", "rollover", "--region", world.louxing.code, "--from", str(LAST),
                                 "--to", str(YEAR), "--as", "louxing"])
    assert result.exit_code == 0 and "杉山镇:转入0人" in result.output.replace(" ", "")


# -- candidates (rule 8) ------------------------------------------------------------------------------------

@pytest.fixture()
def veterans(db, world):
    t = world.shanshan
    out = {
        "无人机": person(db, t, "无人机兵", 24, veteran={"specialty": "无人机操控", "military_rating": "excellent"}),
        "卫生": person(db, world.village, "卫生兵", 27, veteran={"specialty": "卫生救护", "military_rating": "good"}),
        "双料": person(db, t, "双料兵", 31, veteran={"specialty": "无人机操控、卫生救护", "military_rating": "pass"}),
        "老兵": person(db, t, "老兵", 63, veteran={"specialty": "无人机操控、通信", "military_rating": "excellent"}),
        "在编": person(db, t, "在编兵", 26, veteran={"specialty": "无人机操控", "military_rating": "good"}),
        "外镇": person(db, world.dake, "外镇兵", 25, veteran={"specialty": "无人机操控", "military_rating": "excellent"}),
    }
    member(db, out["在编"], t)
    detachment = unit(db, t, "民兵应急分队", "emergency", planned_size=6)
    db.session.commit()
    return out, detachment


def test_candidates_filter_and_sort_by_fit(db, world, veterans):
    names = [c.person.name for c in candidates(db.session, world.shanshan, YEAR, keywords=["无人机", "卫生"])]
    assert names == ["双料兵", "无人机兵", "卫生兵"]  # two skills first, then by rating
    names = [c.person.name for c in candidates(db.session, world.shanshan, YEAR, min_rating="good")]
    assert names == ["无人机兵", "卫生兵"]
    wide = [c.person.name for c in candidates(db.session, world.shanshan, YEAR, max_age=70, exclude_members=False)]
    assert "老兵" in wide and "在编兵" in wide and "外镇兵" not in wide


def test_enlist_selected_candidates_in_one_action(client, login, db, world, veterans):
    people, detachment = veterans
    login("shanshan")
    code = world.shanshan.code
    page = client.get(f"/admin/militia/{code}/{YEAR}/candidates?keywords=无人机").get_data(as_text=True)
    assert "无人机兵" in page and "老兵" not in page and "在编兵" not in page and "外镇兵" not in page
    rv = client.post(f"/admin/militia/{code}/{YEAR}/enlist", data={
        "person_id": [str(people["无人机"].id), str(people["双料"].id)], "unit_id": str(detachment.id),
        "role": "member"})
    assert rv.status_code == 303
    db.session.expire_all()
    made = db.session.scalars(select(MilitiaMembership).where(MilitiaMembership.unit_id == detachment.id)).all()
    assert sorted(m.person.name for m in made) == ["双料兵", "无人机兵"]
    assert all(m.category == "core" and m.status == "confirmed" and m.unit_type == "emergency" for m in made)


def test_enlisting_the_63_year_old_or_a_member_writes_nothing(client, login, db, world, veterans):
    people, detachment = veterans
    login("shanshan")
    code = world.shanshan.code
    before = snapshot(db)
    for chosen in ([people["老兵"], people["卫生"]], [people["在编"]]):
        rv = client.post(f"/admin/militia/{code}/{YEAR}/enlist", data={
            "person_id": [str(p.id) for p in chosen], "unit_id": str(detachment.id), "role": "member"},
            follow_redirects=True)
        assert rv.status_code == 200
        text = rv.get_data(as_text=True)
        assert "63 周岁" in text or "每年只能登记一次" in text
        assert snapshot(db) == before  # all or nothing: 卫生兵 was not enlisted either


def test_enlist_needs_an_emergency_unit_of_the_township_and_year(client, login, db, world, veterans):
    people, _detachment = veterans
    squad = unit(db, world.shanshan, "一班")
    other = unit(db, world.dake, "大科应急分队", "emergency")
    db.session.commit()
    login("shanshan")
    before = snapshot(db)
    code = world.shanshan.code
    data = {"person_id": str(people["卫生"].id), "role": "member"}
    assert client.post(f"/admin/militia/{code}/{YEAR}/enlist", data={**data, "unit_id": str(squad.id)}).status_code == 400
    assert client.post(f"/admin/militia/{code}/{YEAR}/enlist", data={**data, "unit_id": str(other.id)}).status_code == 404
    assert snapshot(db) == before


# -- another township's ids: 404 and nothing changes -----------------------------------------------------

def test_every_new_route_answers_404_for_another_township(client, login, db, world, veterans, last_year):
    people, detachment = veterans
    dake_person = person(db, world.dake, "大科人", 24, veteran={"specialty": "无人机操控"})
    dake_unit = unit(db, world.dake, "大科应急分队", "emergency")
    dake_member = member(db, dake_person, world.dake, u=dake_unit)
    db.session.commit()
    login("shanshan")
    before = snapshot(db)
    dake = world.dake.code
    for url in (f"/admin/militia/{dake}/{YEAR}/", f"/admin/militia/{dake}/{YEAR}/candidates",
                f"/print/{dake}/militia/{YEAR}/units.pdf", f"/print/{dake}/militia/{YEAR}/emergency.pdf",
                f"/print/{dake}/signs.pdf", f"/admin/stats/?region={dake}", f"/admin/stats/export.xlsx?region={dake}",
                f"/admin/stats/report.pdf?region={dake}", f"/admin/stats/?region={world.louxing.code}"):
        assert client.get(url).status_code == 404, url
    posts = [(f"/admin/militia/{dake}/{YEAR}/rollover", {}), (f"/admin/militia/{dake}/{YEAR}/confirm-all", {}),
             (f"/admin/militia/{dake}/{YEAR}/enlist", {"person_id": str(dake_person.id), "unit_id": str(dake_unit.id)}),
             (f"/admin/militia/membership/{dake_member.id}", {"action": "confirm"}),
             (f"/admin/militia/membership/{dake_member.id}", {"action": "remove"}),
             # own township, but another township's person or unit
             (f"/admin/militia/{world.shanshan.code}/{YEAR}/enlist",
              {"person_id": str(dake_person.id), "unit_id": str(detachment.id)}),
             (f"/admin/militia/{world.shanshan.code}/{YEAR}/enlist",
              {"person_id": str(people["卫生"].id), "unit_id": str(dake_unit.id)})]
    for url, data in posts:
        assert client.post(url, data=data).status_code == 404, url
    own = db.session.scalars(select(MilitiaMembership).where(MilitiaMembership.township_id == world.shanshan.id)).first()
    assert client.post(f"/admin/militia/membership/{own.id}",
                       data={"action": "move", "unit_id": str(dake_unit.id)}).status_code == 404
    for bad in ("1999", "9999"):
        assert client.get(f"/admin/militia/{world.shanshan.code}/{bad}/").status_code == 404
    assert snapshot(db) == before


def test_a_viewer_sees_but_cannot_write(client, login, db, world, last_year):
    login("viewer")
    code = world.shanshan.code
    assert client.get(f"/admin/militia/{code}/{YEAR}/").status_code == 200
    before = snapshot(db)
    assert client.post(f"/admin/militia/{code}/{YEAR}/rollover").status_code == 404
    m = db.session.scalars(select(MilitiaMembership)).first()
    assert client.post(f"/admin/militia/membership/{m.id}", data={"action": "remove"}).status_code == 404
    assert snapshot(db) == before


# -- status per township and size vs plan -----------------------------------------------------------------

def test_reorganisation_status_of_every_township_and_totals(client, login, db, world, last_year):
    t = world.tianping
    member(db, person(db, t, "田坪民兵", 22), t, category="ordinary")
    db.session.commit()
    login("shanshan")
    client.post(f"/admin/militia/{world.shanshan.code}/{YEAR}/rollover")
    login("city")
    page = client.get(f"/admin/militia/?year={YEAR}").get_data(as_text=True)
    rows = {code: page.split(f'data-code="{code}"')[1].split("</tr>")[0]
            for code in (world.shanshan.code, world.dake.code, world.tianping.code)}
    assert "进行中" in rows[world.shanshan.code]
    assert "未开始" in rows[world.dake.code]
    assert "已确认" in rows[world.tianping.code]
    totals = page.split('id="reorg-totals"')[1].split("</tr>")[0]
    assert "<td>5</td>" in totals  # 4 rolled over + 1 in 田坪镇
    login("louxing")
    page = client.get(f"/admin/militia/?year={YEAR}").get_data(as_text=True)
    assert world.tianping.code not in page and world.dake.code in page


def test_size_vs_plan_per_unit(client, login, db, world, last_year):
    login("shanshan")
    page = client.get(f"/admin/militia/{world.shanshan.code}/{LAST}/").get_data(as_text=True)
    sizes = page.split('id="unit-sizes"')[1].split("</table>")[0]
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in sizes.split("<tr>")[2:]}
    squad_row = rows["一班"]
    assert "<td>4</td>" in squad_row and "满编" in squad_row  # planned 4, four members
    detachment_row = rows["应急分队"]
    assert "缺 5" in detachment_row


def test_a_company_counts_the_members_of_its_platoons_and_squads(client, login, db, world):
    company = unit(db, world.shanshan, "基干民兵连", "company", planned_size=3)
    platoon = unit(db, world.shanshan, "一排", "platoon", parent=company, planned_size=3)
    squad = unit(db, world.shanshan, "一班", "squad", parent=platoon, planned_size=2)
    for i, u in enumerate((company, platoon, squad)):
        member(db, person(db, world.shanshan, f"连员{i}", 22 + i), world.shanshan, u=u)
    db.session.commit()
    login("shanshan")
    page = client.get(f"/admin/militia/{world.shanshan.code}/{YEAR}/").get_data(as_text=True)
    sizes = page.split('id="unit-sizes"')[1].split("</table>")[0]
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in sizes.split("<tr>")[2:]}
    assert "<td>3</td><td>满编</td>" in rows["基干民兵连"].replace("\n", "").replace(" ", "")
    assert "缺 1" in rows["一排"] and "缺 1" in rows["一班"]


# -- prints -------------------------------------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    return "".join((p.extract_text() or "") for p in PdfReader(io.BytesIO(data)).pages).replace(" ", "").replace("\n", "")


def test_roster_by_unit_and_emergency_roster_are_masked(client, login, db, world, veterans, last_year):
    people, detachment = veterans
    member(db, people["卫生"], world.shanshan, u=detachment)
    db.session.commit()
    login("viewer")  # reads and prints, never sees sensitive values
    data = client.get(f"/print/{world.shanshan.code}/militia/{LAST}/units.pdf").data
    text = pdf_text(data)
    assert "一班" in text and "留任" in text and "编制4人,实有4人" in text
    full = last_year["留任"].id_number
    assert full not in text and full[-4:] in text
    text = pdf_text(client.get(f"/print/{world.shanshan.code}/militia/{YEAR}/emergency.pdf").data)
    assert "卫生兵" in text and "卫生救护" in text and "良好" in text and "在编兵" not in text
    assert people["卫生"].id_number not in text
    login("city")
    text = pdf_text(client.get(f"/print/{world.shanshan.code}/militia/{YEAR}/emergency.pdf").data)
    assert people["卫生"].id_number in text


def test_door_and_window_signs(client, login, db, world):
    db.session.add_all([Room(region=world.shanshan, kind="honour", name="荣誉室"),
                        ServiceWindow(region=world.shanshan, name="返乡报到窗口", services="退役返乡报到")])
    db.session.commit()
    login("shanshan")
    rv = client.get(f"/print/{world.shanshan.code}/signs.pdf")
    assert rv.status_code == 200
    text = pdf_text(rv.data)
    assert "荣誉室" in text and "返乡报到窗口" in text and "退役返乡报到" in text


# -- village level (rule 3) ---------------------------------------------------------------------------------

def village_office(db, world, *, party_is_head: bool, officer_is_leader: bool):
    v = world.village
    types = {role: post_type(title, side="village_station") for role, title in (
        ("party_head", "村党组织负责人"), ("station_head", "村服务站站长"), ("station_officer", "村服务站干事"),
        ("militia_leader", "民兵连长"))}
    for role, kind in types.items():
        kind.village_role = role
    posts = {role: Post(region=v, title=kind.title, side="village_station", post_type=kind)
             for role, kind in types.items()}
    db.session.add_all(posts.values())
    head, leader = Person(name="村支书", region=v), Person(name="连长", region=v)
    other = Person(name="别人", region=v)
    start = datetime.date(2024, 1, 1)
    db.session.add_all([
        Appointment(person=head, post=posts["station_head"], start_on=start),
        Appointment(person=head if party_is_head else other, post=posts["party_head"], start_on=start, concurrent=True),
        Appointment(person=leader, post=posts["militia_leader"], start_on=start),
        Appointment(person=leader if officer_is_leader else other, post=posts["station_officer"], start_on=start,
                    concurrent=True)])
    db.session.commit()


def test_village_rule_holds_and_shows_on_the_wall_chart(client, login, db, world):
    from models.village import village_rule_problems
    from printables.documents import org_chart_for

    village_office(db, world, party_is_head=True, officer_is_leader=True)
    assert village_rule_problems(db.session, world.shanshan) == []
    html = org_chart_for(db.session, world.shanshan)
    assert 'class="villages"' in html and "杉山村" in html and "(党组织负责人)" in html
    assert "连长(兼)" in html


def test_village_rule_broken_is_warned_on_the_print_and_duty_screens(client, login, db, world):
    from models.village import village_rule_problems

    village_office(db, world, party_is_head=False, officer_is_leader=False)
    problems = village_rule_problems(db.session, world.shanshan)
    assert any("不是村党组织负责人" in p for p in problems)
    assert any("未兼任村服务站干事" in p for p in problems)
    login("shanshan")
    assert "不是村党组织负责人" in client.get("/admin/print/").get_data(as_text=True)
    assert "不是村党组织负责人" in client.get(f"/admin/duties/{world.shanshan.code}/").get_data(as_text=True)


def test_wall_chart_with_villages_and_rooms_stays_one_page(db, world):
    from models import PrintSettings
    from printables.documents import org_chart_for
    from printables.render import render_pdf
    from tests.test_printables import build_office

    build_office(world.shanshan)
    with db.session.no_autoflush:
        for n in range(2, 14):  # thirteen villages: three rows of village stations
            make_region(f"431302100{200 + n:03d}", f"第{n}村", "village", world.shanshan)
    village_office(db, world, party_is_head=True, officer_is_leader=True)
    db.session.add_all([Room(region=world.shanshan, kind=k, name=n) for k, n in
                        (("office", "部站办公室"), ("activity", "活动室"), ("archive", "资料室"),
                         ("duty", "值班室"), ("honour", "荣誉室"))])
    db.session.add(ServiceWindow(region=world.shanshan, name="返乡报到窗口"))
    db.session.add(PrintSettings(township=world.shanshan, show_rooms=True))
    db.session.commit()
    data = render_pdf(org_chart_for(db.session, world.shanshan))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = pdf_text(data)
    assert "功能厅室与服务窗口" in text and "荣誉室" in text and "返乡报到窗口" in text and "第13村" in text


# -- migration 0008 moves the free-text unit names into unit rows --------------------------------------------

@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not __import__("os").environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
    reason="TEST_DATABASE_URL does not point to PostgreSQL"))])
def test_migration_turns_unit_names_into_units_and_back(dialect, tmp_path):
    import flask_migrate
    from sqlalchemy import text

    from admin_app.extensions import db as _db
    from tests.test_migrations import at_released_revision_with_demo

    def rows(sql):
        with _db.engine.connect() as conn:
            return conn.execute(text(sql)).all()

    with at_released_revision_with_demo(dialect, tmp_path):
        named = rows("SELECT id, township_id, year, TRIM(unit_name) FROM militia_membership "
                     "WHERE unit_name IS NOT NULL ORDER BY id")
        qualities = dict(rows("SELECT id, military_quality FROM veteran_profile"))
        assert named and qualities
        flask_migrate.upgrade(revision="0008")
        linked = {r[0]: r[1:] for r in rows(
            "SELECT m.id, u.township_id, u.year, u.name FROM militia_membership m "
            "JOIN militia_unit u ON u.id = m.unit_id")}
        assert {i: tuple(v) for i, v in linked.items()} == {r[0]: tuple(r[1:]) for r in named}
        distinct = {tuple(r[1:]) for r in named}
        assert rows("SELECT count(*) FROM militia_unit")[0][0] == len(distinct)
        assert {s for (s,) in rows("SELECT DISTINCT status FROM militia_membership")} == {"confirmed"}
        ratings = dict(rows("SELECT id, military_rating FROM veteran_profile"))
        labels = {"excellent": "优秀", "good": "良好", "pass": "合格"}
        assert all(labels[ratings[i]] == q for i, q in qualities.items() if q in labels.values())
        flask_migrate.downgrade(revision="0007")
        assert rows("SELECT id, township_id, year, unit_name FROM militia_membership "
                    "WHERE unit_name IS NOT NULL ORDER BY id") == named


# -- the browser journey: candidates → 编入应急分队 (real Chromium, CSRF on, the demo data) -------------------

from tests.test_browser import browser, live_server, menu, open_as, shot  # noqa: E402, F401 - fixtures


@pytest.mark.browser
def test_browser_candidates_to_emergency_detachment(open_as):  # noqa: F811 - the imported fixture
    page, watch = open_as("shanshan")
    menu(page, "民兵", "民兵整组")
    page.locator("#reorg-overview tr", has_text="杉山镇").locator("a", has_text="查看").click()
    page.wait_for_load_state("load")
    assert "进行中" in page.locator("#reorg-status").inner_text()
    page.locator("a", has_text="应急分队人选").click()
    page.fill("#keywords", "无人机")
    page.locator("#candidate-filter button[type=submit]").click()
    page.wait_for_load_state("load")
    rows = page.locator("#candidates tbody tr")
    assert rows.count() >= 2
    first = rows.first
    name = first.get_attribute("data-person")
    assert "无人机" in first.inner_text()
    first.locator("input[name=person_id]").check()
    page.select_option("#role", "squad_leader")
    page.locator("#enlist").click()
    page.wait_for_load_state("load")
    assert "/candidates" not in page.url
    assert f"已将 {name} 编入" in page.content()
    roster_row = page.locator(f'#roster tr[data-person="{name}"]')
    assert roster_row.count() == 1
    assert roster_row.locator("select[name=unit_id] option[selected]").inner_text() == "民兵应急分队"
    assert roster_row.locator("select[name=role] option[selected]").inner_text() == "班长"
    watch.check(page)
    shot(page, "militia-enlist")
