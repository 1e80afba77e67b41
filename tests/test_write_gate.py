"""The write gate, tried as an attacker and as a careful clerk would: every path around the generated
screens (restore, CLI, import, direct writes, bulk statements, stale forms) is refused with a Chinese
message, and the database is compared row for row before and after."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from admin_app.actor import acting_as, system_actor, user_actor
from admin_app.gate import WriteRefused
from models import (
    AnnualPlan,
    Appointment,
    AuditLog,
    Grant,
    MilitiaMembership,
    Person,
    PlanItem,
    Post,
    PostType,
    User,
    VeteranProfile,
)
from tests.conftest import PASSWORD, count_rows, post_type
from tests.test_access_matrix import id_number, parse_form, snapshot

HUNAN = Path(__file__).resolve().parent / "fixtures" / "regions-hunan.csv"


def _person(db, region, name="赵卫东", **kw) -> Person:
    person = Person(name=name, region=region, **kw)
    db.session.add(person)
    db.session.commit()
    return person


def _restore(client, entry_id):
    return client.post(f"/admin/history/{entry_id}/restore", data={})


# -- no actor, bulk statements, audit rows -------------------------------------------------------------
def test_a_flush_without_an_actor_is_refused(db, world):
    before = snapshot(db)
    with acting_as(None):
        db.session.add(Person(name="无主", region=world.shanshan))
        with pytest.raises(WriteRefused, match="没有操作人"):
            db.session.flush()
    assert snapshot(db) == before


def test_bulk_statements_and_hand_written_audit_rows_are_refused_for_users(db, world):
    person = _person(db, world.shanshan)
    before = snapshot(db)
    with acting_as(user_actor(world.users["shanshan"])):
        with pytest.raises(WriteRefused):
            db.session.execute(update(Person).values(name="改名"))
        db.session.rollback()
        db.session.add(AuditLog(action="update", table_name="person", row_id=person.id, summary="伪造"))
        with pytest.raises(WriteRefused, match="变更记录只能由系统自动写入"):
            db.session.flush()
    assert snapshot(db) == before


def test_direct_writes_check_scope_before_and_after(db, world):
    """Moving a row out of one's scope is a delete there; into another's scope a create there."""
    mine = _person(db, world.shanshan, "本镇人员")
    theirs = _person(db, world.tianping, "外县人员")
    before = snapshot(db)
    with acting_as(user_actor(world.users["shanshan"])):
        mine.region = world.tianping
        with pytest.raises(WriteRefused, match="授权范围"):
            db.session.flush()
        db.session.rollback()
        theirs = db.session.get(Person, theirs.id)
        theirs.name = "改名"
        with pytest.raises(WriteRefused, match="授权范围"):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(Person, theirs.id))
        with pytest.raises(WriteRefused):
            db.session.flush()
        db.session.rollback()
    assert snapshot(db) == before


# -- links across townships --------------------------------------------------------------------------
def test_a_militia_row_cannot_link_a_person_of_another_township(client, login, db, world):
    """louxing sees both 杉山镇 and 大科街道, but a 大科街道 person cannot join 杉山镇's militia."""
    stranger = _person(db, world.dake, "外镇民兵", id_number=id_number("431302", "20000101", 11))
    login("louxing")
    before = snapshot(db)
    with acting_as(user_actor(world.users["louxing"])):
        db.session.add(MilitiaMembership(person=stranger, township=world.shanshan, year=2026,
                                         category="core", unit_type="squad"))
        with pytest.raises(WriteRefused, match="其他乡镇"):
            db.session.flush()
    db.session.rollback()
    assert snapshot(db) == before
    # The same through the form.
    rv = client.post("/admin/militia_membership/new/", data={
        "person": str(stranger.id), "township": str(world.shanshan.id), "year": "2026", "category": "core",
        "unit_type": "squad", "role": "member"})
    assert rv.status_code == 200 and "属于其他乡镇" in rv.get_data(as_text=True)
    assert snapshot(db) == before


def test_an_import_naming_another_townships_person_writes_nothing(client, login, db, world):
    import io

    import openpyxl

    _person(db, world.tianping, "田坪人员")
    login("shanshan")
    before = snapshot(db)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["人员", "乡镇/街道", "整组年度", "民兵类别", "编组", "职务"])
    sheet.append(["田坪人员", "杉山镇", 2026, "基干民兵", "班", "队员"])
    out = io.BytesIO()
    book.save(out)
    rv = client.post("/admin/militia_membership/import/", data={"file": (io.BytesIO(out.getvalue()), "m.xlsx")},
                     content_type="multipart/form-data")
    assert rv.status_code in (400, 422)
    assert snapshot(db) == before


# -- rules that belong to the city -------------------------------------------------------------------
def test_a_clerk_cannot_change_the_post_catalogue(client, login, db, world):
    kind = post_type("武装部副部长", qualification="paf_cadre")
    db.session.commit()
    login("shanshan")
    before = snapshot(db)
    rv = client.post(f"/admin/post_type/edit/?id={kind.id}", data={
        "title": kind.title, "side": kind.side, "headcount": "9", "required_qualification": "",
        "row_version": str(kind.version)})
    assert rv.status_code == 404
    with acting_as(user_actor(world.users["shanshan"])):
        db.session.get(PostType, kind.id).required_qualification = None
        with pytest.raises(WriteRefused):
            db.session.flush()
    db.session.rollback()
    assert snapshot(db) == before
    # The post form offers no way around it either: the rule is not a field of the township's post.
    page = client.get("/admin/post/new/").get_data(as_text=True)
    assert "required_qualification" not in page and "headcount" not in page


def test_headcount_refuses_a_second_head_and_ended_terms_do_not_count(client, login, db, world):
    head_type = post_type("武装部部长", headcount=1)
    post = Post(region=world.shanshan, title="武装部部长", side="armed_forces", post_type=head_type)
    other = Post(region=world.shanshan, title="武装部部长(二)", side="armed_forces", post_type=head_type)
    first, second = _person(db, world.shanshan, "王勇"), _person(db, world.shanshan, "李强")
    db.session.add_all([post, other, Appointment(person=first, post=post, start_on=datetime.date(2024, 1, 1))])
    db.session.commit()
    login("shanshan")
    before = snapshot(db)
    for target in (post, other):  # the same post, or a second post of the same type
        rv = client.post("/admin/appointment/new/", data={
            "post": str(target.id), "person": str(second.id), "start_on": "2025-01-01"})
        assert rv.status_code == 200
        assert "编制数为 1" in rv.get_data(as_text=True)
        assert snapshot(db) == before
    # Once the first head's term ended, the second may be appointed.
    db.session.scalars(select(Appointment)).one().end_on = datetime.date(2024, 12, 31)
    db.session.commit()
    rv = client.post("/admin/appointment/new/", data={
        "post": str(post.id), "person": str(second.id), "start_on": "2025-01-01"})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    assert count_rows(Appointment) == 2


# -- nothing made up, nothing lost ---------------------------------------------------------------------
def test_creating_a_person_makes_no_empty_veteran_profile(client, login, db, world):
    login("shanshan")
    rv = client.post("/admin/person/new/", data={"name": "周洪杰", "region": str(world.shanshan.id)})
    assert rv.status_code == 302
    assert count_rows(Person) == 1 and count_rows(VeteranProfile) == 0
    rv = client.post("/admin/person/new/", data={"name": "李退伍", "region": str(world.shanshan.id),
                                                 "veteran_profile-specialty": "驾驶"})
    assert rv.status_code == 302
    assert count_rows(VeteranProfile) == 1


def test_deleting_a_linked_person_is_refused_with_the_list(client, login, db, world):
    person = _person(db, world.shanshan, "老兵")
    db.session.add(VeteranProfile(person=person, specialty="通信"))
    db.session.commit()
    login("shanshan")
    before = snapshot(db)
    rv = client.post("/admin/person/delete/", data={"id": str(person.id)}, follow_redirects=True)
    page = rv.get_data(as_text=True)
    assert "还有关联记录" in page and "退役军人 1 条" in page
    assert snapshot(db) == before
    # Through any path: a direct delete is refused the same way.
    with acting_as(user_actor(world.users["shanshan"])):
        db.session.delete(db.session.get(Person, person.id))
        with pytest.raises(WriteRefused, match="还有关联记录"):
            db.session.flush()
    db.session.rollback()
    assert snapshot(db) == before


def test_a_stale_inline_child_and_a_missing_version_are_refused(client, login, db, world):
    plan = AnnualPlan(township=world.shanshan, year=2026, title="2026 年计划")
    plan.items.append(PlanItem(month=3, title="民兵整组", status="planned"))
    db.session.add(plan)
    db.session.commit()
    login("shanshan")
    form = parse_form(client.get(f"/admin/annual_plan/edit/?id={plan.id}").get_data(as_text=True)).values
    assert form.get("items-0-row_version") == "1", form
    # Someone marks the item done elsewhere (the plan screen) …
    item = db.session.scalars(select(PlanItem)).one()
    with acting_as(user_actor(world.users["shanshan"])):
        item.status = "done"
        db.session.commit()
    before = snapshot(db)
    # … the stale plan form must not silently set it back.
    rv = client.post(f"/admin/annual_plan/edit/?id={plan.id}", data=form)
    assert rv.status_code == 200 and "此记录已被他人修改" in rv.get_data(as_text=True)
    assert snapshot(db) == before
    # A POST without the versions is refused too.
    for missing in ("row_version", "items-0-row_version"):
        fresh = parse_form(client.get(f"/admin/annual_plan/edit/?id={plan.id}").get_data(as_text=True)).values
        fresh["title"] = "改过的标题"
        fresh.pop(missing)
        rv = client.post(f"/admin/annual_plan/edit/?id={plan.id}", data=fresh)
        assert rv.status_code == 200 and "缺少版本信息" in rv.get_data(as_text=True), missing
        assert snapshot(db) == before


# -- restore is an ordinary change ---------------------------------------------------------------------
def test_restoring_a_demoted_grant_is_refused_to_a_county_admin(client, login, db, world):
    boss = User(username="boss", display_name="boss")
    boss.set_password(PASSWORD)
    grant = Grant(user=boss, role="city_admin", region=world.louxing)
    db.session.add_all([boss, grant])
    db.session.commit()
    grant.role = "clerk"  # the city admin demotes it (audited like every change)
    db.session.commit()
    entry = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "grant",
                                                      AuditLog.row_id == grant.id,
                                                      AuditLog.action == "update")).one()
    login("louxing")
    before = snapshot(db)
    rv = _restore(client, entry.id)
    assert rv.status_code == 302
    page = client.get(rv.headers["Location"]).get_data(as_text=True)
    assert "不能恢复" in page and "不能授予高于本人角色" in page
    assert snapshot(db) == before
    db.session.expire_all()
    assert db.session.get(Grant, grant.id).role == "clerk"


def test_audit_rows_hold_no_secret_and_restore_never_brings_an_old_password_back(app, client, login, db, world):
    from admin_app.users_cli import users

    old_hash = world.users["shanshan"].password_hash
    result = app.test_cli_runner().invoke(users, ["reset-password", "shanshan", "--as", "louxing"],
                                          input="a-brand-new-password-7\n")
    assert result.exit_code == 0, result.output
    for entry in db.session.scalars(select(AuditLog)):
        blob = f"{entry.before} {entry.after}"
        assert old_hash not in blob and "scrypt:" not in blob and "pbkdf2:" not in blob
    entry = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "user_account",
                                                      AuditLog.action == "update")).one()
    assert entry.after["password_hash"] == "●●●●●●(已修改)"
    login("louxing")
    _restore(client, entry.id)
    db.session.expire_all()
    user = db.session.scalars(select(User).where(User.username == "shanshan")).one()
    assert user.check_password("a-brand-new-password-7") and not user.check_password(PASSWORD)


def test_audit_entries_are_masked_for_users_without_the_sensitive_right(client, login, db, world):
    number = id_number("431302", "19900101", 18)
    login("shanshan")
    assert client.post("/admin/person/new/", data={"name": "周洪杰", "region": str(world.shanshan.id),
                                                   "id_number": number}).status_code == 302
    entry = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "person")).one()
    assert entry.actor == "shanshan"
    page = client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)
    assert number in page and "公民身份号码" in page  # the clerk holds the right
    from models.rights import RolePermission

    db.session.add(RolePermission(role="clerk", model_name="Person", action="sensitive", allowed=False))
    db.session.commit()
    page = client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)
    assert "周洪杰" in page and number not in page and number[6:14] not in page


# -- global rights come from the role ------------------------------------------------------------------
def test_a_province_imported_above_the_city_changes_nothing_for_the_city_admin(app, client, login, db, world):
    from admin_app.cli import regions_cli

    result = app.test_cli_runner().invoke(regions_cli, ["import", str(HUNAN), "--system"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert world.city.parent is not None  # 湖南省 is the root now
    login("city")
    assert client.get("/admin/rights/").status_code == 200
    rv = client.post("/admin/post_type/new/", data={"title": "干事(国防教育)", "side": "armed_forces",
                                                    "headcount": "2", "sort_order": "90"})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    assert db.session.scalars(select(PostType).where(PostType.title == "干事(国防教育)")).one()
    assert client.get("/admin/").status_code == 200
    # …and the import is audited under its system actor.
    assert "system:regions-import" in set(db.session.scalars(
        select(AuditLog.actor).where(AuditLog.table_name == "region")))


def test_regions_import_needs_an_actor(app, db, world):
    from admin_app.cli import regions_cli

    before = snapshot(db)
    result = app.test_cli_runner().invoke(regions_cli, ["import", str(HUNAN)])
    assert result.exit_code == 1 and "--as" in result.output
    result = app.test_cli_runner().invoke(regions_cli, ["import", str(HUNAN), "--as", "louxing"])
    assert result.exit_code == 1
    assert snapshot(db) == before


def test_seed_acts_as_a_named_system_actor(db):
    from admin_app.demo import seed_demo

    with acting_as(system_actor("seed-demo")):
        seed_demo(db.session, today=datetime.date(2026, 11, 27))
        db.session.commit()
    actors = set(db.session.scalars(select(AuditLog.actor).distinct()))
    assert actors == {"system:seed-demo"}
    assert count_rows(PostType) > 0


def test_unique_values_are_checked_when_set_through_a_relationship_and_within_one_flush(db, world):
    """The gate's unique check sees a key set as ``township=…`` (its column is filled only while
    flushing) and two new rows claiming the same key in one flush."""
    db.session.add(AnnualPlan(township=world.shanshan, year=2026, title="已有计划"))
    db.session.commit()
    before = snapshot(db)
    db.session.add(AnnualPlan(township=world.shanshan, year=2026, title="重复计划"))
    with pytest.raises(WriteRefused, match="已存在相同"):
        db.session.flush()
    db.session.rollback()
    db.session.add_all([AnnualPlan(township=world.dake, year=2027, title="一"),
                        AnnualPlan(township=world.dake, year=2027, title="二")])
    with pytest.raises(WriteRefused, match="已存在相同"):
        db.session.flush()
    db.session.rollback()
    assert snapshot(db) == before
