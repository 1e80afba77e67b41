"""City duty template, township adjustments, the merge, revert, and the screens that drive them."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select

from models import AuditLog, Duty, DutyAdjustment, DutyTemplateEntry, Person, Post
from models.duty_logic import (
    ADDED,
    ADJUSTED,
    REMOVED,
    TEMPLATE,
    effective_duties,
    person_loads,
    summarise,
    template_impact,
)
from models.org import Appointment
from tests.conftest import post_type


@pytest.fixture()
def tpl(db, world):
    """A small city template and the posts of 杉山镇 and 大科街道."""
    s = db.session
    duties = {name: Duty(name=name, category=cat) for name, cat in [
        ("民兵整组", "armed_forces"), ("兵员征集", "armed_forces"), ("返乡报到接收", "veterans"),
        ("就业创业扶持", "veterans"), ("安全生产", "non_core")]}
    s.add_all(duties.values())
    s.flush()
    entries = {}
    for i, (title, name) in enumerate([("武装部部长", "民兵整组"), ("武装部部长", "兵员征集"),
                                       ("服务站站长", "返乡报到接收"), ("服务站站长", "就业创业扶持")]):
        entries[name] = DutyTemplateEntry(post_title=title, duty=duties[name], sort_order=i * 10)
    s.add_all(entries.values())
    posts = {}
    for region in (world.shanshan, world.dake):
        for j, title in enumerate(["武装部部长", "服务站站长", "专职人民武装干部"]):
            posts[(region.code, title)] = Post(region=region, title=title, side="armed_forces", sort_order=j,
                                                    post_type=post_type(title, headcount=5))
    s.add_all(posts.values())
    s.commit()
    return {"duties": duties, "entries": entries, "posts": posts}


def _adjust(db, world, tpl, action, duty, *, township=None, post=None, wording=None, reason="实际需要",
            minutes=0):
    township = township or world.shanshan
    adj = DutyAdjustment(township=township, action=action, duty=tpl["duties"][duty] if isinstance(duty, str)
                         else duty, target_post=tpl["posts"][(township.code, post)] if post else None,
                         new_wording=wording, reason=reason,
                         made_at=datetime.datetime(2026, 1, 1, 8, 0) + datetime.timedelta(minutes=minutes))
    db.session.add(adj)
    db.session.commit()
    return adj


def _by_name(lines):
    return {ln.duty_name: ln for ln in lines}


# -- the merge -------------------------------------------------------------------------------------------

def test_unadjusted_township_equals_template(db, world, tpl):
    lines = effective_duties(world.shanshan)
    assert [(ln.post_title, ln.duty_name, ln.status) for ln in lines] == [
        ("武装部部长", "民兵整组", TEMPLATE), ("武装部部长", "兵员征集", TEMPLATE),
        ("服务站站长", "返乡报到接收", TEMPLATE), ("服务站站长", "就业创业扶持", TEMPLATE)]
    assert lines[0].post_id == tpl["posts"][(world.shanshan.code, "武装部部长")].id


def test_add_remove_move_reword_merge(db, world, tpl):
    local = Duty(name="防汛应急", category="armed_forces", region=world.shanshan)
    db.session.add(local)
    db.session.commit()
    _adjust(db, world, tpl, "add", local, post="专职人民武装干部", minutes=1)
    _adjust(db, world, tpl, "remove", "兵员征集", minutes=2)
    _adjust(db, world, tpl, "move", "就业创业扶持", post="专职人民武装干部", minutes=3)
    _adjust(db, world, tpl, "reword", "返乡报到接收", wording="退役军人返乡报到接收与建档", minutes=4)

    lines = _by_name(effective_duties(world.shanshan, include_removed=True))
    assert lines["防汛应急"].status == ADDED and lines["防汛应急"].post_title == "专职人民武装干部"
    assert lines["兵员征集"].status == REMOVED
    assert lines["就业创业扶持"].status == ADJUSTED
    assert lines["就业创业扶持"].post_title == "专职人民武装干部"
    assert lines["就业创业扶持"].template_post_title == "服务站站长"
    assert lines["返乡报到接收"].wording == "退役军人返乡报到接收与建档"
    assert lines["返乡报到接收"].template_wording == "返乡报到接收"
    assert lines["民兵整组"].status == TEMPLATE
    assert "兵员征集" not in _by_name(effective_duties(world.shanshan))
    # Another township is untouched.
    assert {ln.status for ln in effective_duties(world.dake)} == {TEMPLATE}
    assert summarise(effective_duties(world.shanshan, include_removed=True)).differences == 4


def test_template_update_beneath_adjustment_is_flagged(db, world, tpl):
    _adjust(db, world, tpl, "reword", "返乡报到接收", wording="本镇表述")
    entry = tpl["entries"]["返乡报到接收"]
    entry.wording = "返乡报到接收(新版模板)"
    db.session.commit()
    line = _by_name(effective_duties(world.shanshan))["返乡报到接收"]
    assert line.wording == "本镇表述"  # the adjustment is kept
    assert line.template_changed
    assert line.template_wording == "返乡报到接收(新版模板)"
    impact = template_impact(db.session)
    assert [(t.name, changed) for t, changed in impact[entry.id]] == [("杉山镇", True)]


def test_template_update_beneath_unadjusted_line_follows(db, world, tpl):
    _adjust(db, world, tpl, "reword", "返乡报到接收", wording="本镇表述")
    entry = tpl["entries"]["民兵整组"]
    entry.wording = "民兵整组(新版)"
    entry.post_title = "专职人民武装干部"
    db.session.commit()
    lines = _by_name(effective_duties(world.shanshan))
    assert lines["民兵整组"].wording == "民兵整组(新版)"
    assert lines["民兵整组"].post_title == "专职人民武装干部"
    assert lines["民兵整组"].status == TEMPLATE and not lines["民兵整组"].template_changed
    assert not lines["返乡报到接收"].template_changed  # its own template line did not change


def test_reorder_alone_does_not_flag(db, world, tpl):
    _adjust(db, world, tpl, "reword", "民兵整组", wording="本镇表述")
    tpl["entries"]["民兵整组"].sort_order = 99
    db.session.commit()
    assert not _by_name(effective_duties(world.shanshan))["民兵整组"].template_changed


def test_template_line_deleted_beneath_adjustment_keeps_township_version(db, world, tpl):
    _adjust(db, world, tpl, "reword", "就业创业扶持", wording="本镇就业创业")
    db.session.delete(tpl["entries"]["就业创业扶持"])
    db.session.commit()
    line = _by_name(effective_duties(world.shanshan))["就业创业扶持"]
    assert line.wording == "本镇就业创业" and line.template_changed and line.status == ADJUSTED
    assert "就业创业扶持" not in _by_name(effective_duties(world.dake))


def test_model_rules(db, world, tpl):
    unknown = Duty(name="不在模板", category="non_core")
    db.session.add(unknown)
    db.session.flush()
    adj = DutyAdjustment(township=world.shanshan, action="reword", duty=unknown, new_wording="x", reason="")
    errors = adj.check()  # not added: a pending invalid row would be refused by the gate at any autoflush
    assert "duty" in errors and "reason" in errors
    move = DutyAdjustment(township=world.shanshan, action="move", duty=tpl["duties"]["民兵整组"],
                          target_post=tpl["posts"][(world.dake.code, "服务站站长")], reason="r")
    assert "target_post" in move.check()
    db.session.rollback()


def test_non_core_load_per_person_and_head_warning(db, world, tpl):
    _adjust(db, world, tpl, "add", "安全生产", post="武装部部长")
    lines = effective_duties(world.shanshan, include_removed=True)
    summary = summarise(lines)
    assert summary.non_core == 1
    assert [ln.duty_name for ln in summary.head_non_core] == ["安全生产"]
    head = tpl["posts"][(world.shanshan.code, "武装部部长")]
    station = tpl["posts"][(world.shanshan.code, "服务站站长")]
    loads = person_loads(lines, {head.id: [(1, "张三")], station.id: [(1, "张三"), (2, "李四")]})
    assert [(ld.name, ld.duties, ld.non_core, ld.holds_head_post) for ld in loads] == [
        ("张三", 5, 1, True), ("李四", 2, 0, False)]


# -- the screens -----------------------------------------------------------------------------------------

def _snapshot(db):
    db.session.expire_all()
    return sorted((a.id, a.action, a.duty_id, a.target_post_id, a.new_wording, a.township_id)
                  for a in db.session.scalars(select(DutyAdjustment)))


def test_clerk_adjusts_sees_difference_and_reverts(client, world, login, db, tpl):
    login("shanshan")
    base = f"/admin/duties/{world.shanshan.code}/"
    entry = tpl["entries"]["返乡报到接收"]
    rv = client.post(base + "adjust", data={"line": f"e{entry.id}", "action": "reword",
                                             "new_wording": "本镇返乡报到", "reason": "本镇实际"})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:1500]
    move = tpl["entries"]["就业创业扶持"]
    target = tpl["posts"][(world.shanshan.code, "专职人民武装干部")]
    rv = client.post(base + "adjust", data={"line": f"e{move.id}", "action": "move",
                                             "target_post": str(target.id), "reason": "分工调整"})
    assert rv.status_code == 302
    rv = client.post(base + "adjust", data={"action": "add", "duty_name": "防汛应急",
                                             "category": "armed_forces", "target_post": str(target.id),
                                             "reason": "汛期任务"})
    assert rv.status_code == 302
    page = client.get(base).get_data(as_text=True)
    assert "本镇返乡报到" in page and "防汛应急" in page and "与模板对比" in page
    assert "调整" in page and "新增" in page
    adj = db.session.scalars(select(DutyAdjustment).where(DutyAdjustment.action == "reword")).one()
    assert adj.author_id == world.users["shanshan"].id and adj.reason == "本镇实际"

    rv = client.post(base + "revert", data={"line": f"e{entry.id}"})
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.scalars(select(DutyAdjustment.action)).all().count("reword") == 0
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "delete",
                                                    AuditLog.table_name == "duty_adjustment")) is not None
    rv = client.post(base + "revert", data={"all": "1"})
    assert rv.status_code == 302
    assert _snapshot(db) == []
    assert {ln.status for ln in effective_duties(world.shanshan)} == {TEMPLATE}


def test_clerk_cannot_adjust_another_township(client, world, login, db, tpl):
    _adjust(db, world, tpl, "reword", "民兵整组", township=world.dake, wording="大科表述")
    before = _snapshot(db)
    login("shanshan")
    entry = tpl["entries"]["兵员征集"]
    other = f"/admin/duties/{world.dake.code}/"
    assert client.get(other).status_code == 404
    assert client.post(other + "adjust", data={"line": f"e{entry.id}", "action": "remove",
                                               "reason": "越权"}).status_code == 404
    assert client.post(other + "revert", data={"all": "1"}).status_code == 404
    assert client.get(f"/admin/duties/{world.tianping.code}/").status_code == 404
    assert _snapshot(db) == before


@pytest.mark.parametrize("data, message", [
    ({"action": "move", "reason": "x", "target_post": "OTHER"}, "目标岗位必须是本乡镇"),
    ({"action": "reword", "reason": "  ", "new_wording": "新"}, "请填写调整理由"),
    ({"action": "reword", "reason": "x", "new_wording": ""}, "请填写新的职责表述"),
    ({"action": "explode", "reason": "x"}, "请选择调整方式"),
])
def test_bad_adjustments_are_refused(client, world, login, db, tpl, data, message):
    login("shanshan")
    entry = tpl["entries"]["民兵整组"]
    data = {**data, "line": f"e{entry.id}"}
    if data.get("target_post") == "OTHER":
        data["target_post"] = str(tpl["posts"][(world.dake.code, "服务站站长")].id)
    rv = client.post(f"/admin/duties/{world.shanshan.code}/adjust", data=data)
    assert rv.status_code == 400
    assert message in rv.get_data(as_text=True)
    assert _snapshot(db) == []


def test_adjusting_a_duty_the_template_lacks_is_refused(client, world, login, db, tpl):
    login("shanshan")
    rv = client.post(f"/admin/duties/{world.shanshan.code}/adjust",
                     data={"line": "e999999", "action": "reword", "new_wording": "x", "reason": "x"})
    assert rv.status_code == 400
    assert "模板中没有" in rv.get_data(as_text=True)
    # Same through the generated screen, with a duty the template does not list.
    stray = Duty(name="模板外职责", category="non_core")
    db.session.add(stray)
    db.session.commit()
    rv = client.post("/admin/duty_adjustment/new/", data={
        "township": str(world.shanshan.id), "action": "remove", "duty": str(stray.id), "reason": "x"})
    assert rv.status_code == 200
    assert "模板中没有这项职责" in rv.get_data(as_text=True)
    assert _snapshot(db) == []


def test_csrf_is_required(app, client, world, login, db, tpl):
    login("shanshan")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        rv = client.post(f"/admin/duties/{world.shanshan.code}/adjust", data={
            "line": f"e{tpl['entries']['民兵整组'].id}", "action": "remove", "reason": "x"})
        assert rv.status_code == 400
        rv = client.post("/admin/duty-template/line", data={"post_title": "干事", "duty_name": "x",
                                                             "category": "non_core"})
        assert rv.status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert _snapshot(db) == []
    db.session.expire_all()
    assert db.session.query(DutyTemplateEntry).count() == 4


# -- the template screen ---------------------------------------------------------------------------------

def test_city_admin_edits_template_and_sees_affected_townships(client, world, login, db, tpl):
    _adjust(db, world, tpl, "reword", "返乡报到接收", wording="本镇表述")
    login("city")
    entry = tpl["entries"]["返乡报到接收"]
    page = client.get("/admin/duty-template/").get_data(as_text=True)
    assert "杉山镇" in page  # the township that adjusted this line is listed
    rv = client.post("/admin/duty-template/line", data={"id": str(entry.id), "post_title": "服务站站长",
                                                         "wording": "返乡报到接收(新版)"})
    assert rv.status_code == 302
    page = client.get("/admin/duty-template/").get_data(as_text=True)
    assert "模板已更新" in page and "杉山镇" in page
    rv = client.post("/admin/duty-template/line", data={"post_title": "干事", "duty_name": "国防教育",
                                                         "category": "armed_forces",
                                                         "new_post_title": "干事"})  # a confirmed new group
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(DutyTemplateEntry).where(DutyTemplateEntry.post_title == "干事")) is not None
    first, second = tpl["entries"]["民兵整组"].id, tpl["entries"]["兵员征集"].id
    assert client.post("/admin/duty-template/move", data={"id": str(second), "direction": "up"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(DutyTemplateEntry, second).sort_order < db.session.get(DutyTemplateEntry, first).sort_order
    line = _by_name(effective_duties(world.shanshan))["返乡报到接收"]
    assert line.template_changed


def test_only_template_editors_change_the_template(client, world, login, db, tpl):
    entry = tpl["entries"]["民兵整组"]
    for user in ("shanshan", "louxing", "viewer"):
        login(user)
        assert client.get("/admin/duty-template/").status_code == 200  # everyone reads it
        assert client.post("/admin/duty-template/line", data={"id": str(entry.id), "post_title": "干事",
                                                               "wording": "改"}).status_code == 404
        assert client.post("/admin/duty-template/delete", data={"id": str(entry.id)}).status_code == 404
        assert client.post("/admin/duty-template/line", data={"post_title": "干事", "duty_name": "x",
                                                               "category": "non_core"}).status_code == 404
    db.session.expire_all()
    assert db.session.query(DutyTemplateEntry).count() == 4
    assert db.session.get(DutyTemplateEntry, entry.id).post_title == "武装部部长"


def test_template_delete_with_empty_post_title_refused(client, world, login, db, tpl):
    login("city")
    entry_id = tpl["entries"]["民兵整组"].id
    rv = client.post("/admin/duty-template/line", data={"id": str(entry_id), "post_title": " "})
    assert rv.status_code == 400 and "请填写岗位名称" in rv.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DutyTemplateEntry, entry_id).post_title == "武装部部长"
    assert client.post("/admin/duty-template/delete", data={"id": str(entry_id)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(DutyTemplateEntry, entry_id) is None


def test_duty_screen_warns_head_with_non_core(client, world, login, db, tpl):
    _adjust(db, world, tpl, "add", "安全生产", post="武装部部长")
    person = Person(name="王部长", region=world.shanshan)
    db.session.add(person)
    db.session.add(Appointment(person=person, post=tpl["posts"][(world.shanshan.code, "武装部部长")],
                               start_on=datetime.date(2020, 1, 1)))
    db.session.commit()
    login("louxing")
    page = client.get(f"/admin/duties/{world.shanshan.code}/").get_data(as_text=True)
    assert "非主责" in page and "王部长" in page and "聚焦主责主业" in page
    overview = client.get("/admin/duties/").get_data(as_text=True)
    assert "杉山镇" in overview and "大科街道" in overview and "田坪镇" not in overview


def test_removed_line_reverts_alone_and_viewer_cannot_touch(client, world, login, db, tpl):
    entry = tpl["entries"]["兵员征集"]
    _adjust(db, world, tpl, "remove", "兵员征集")
    _adjust(db, world, tpl, "reword", "民兵整组", wording="保留的调整")
    login("viewer")
    base = f"/admin/duties/{world.shanshan.code}/"
    page = client.get(base).get_data(as_text=True)
    assert "移除" in page and "保存调整" not in page
    assert client.post(base + "revert", data={"all": "1"}).status_code == 404
    assert client.post(base + "adjust", data={"action": "remove", "line": f"e{entry.id}",
                                              "reason": "x"}).status_code == 404
    assert len(_snapshot(db)) == 2
    login("louxing")  # the county admin may revert inside its county
    assert client.post(base + "revert", data={"line": f"e{entry.id}"}).status_code == 302
    assert [a[1] for a in _snapshot(db)] == ["reword"]
    lines = _by_name(effective_duties(world.shanshan))
    assert lines["兵员征集"].status == TEMPLATE and lines["民兵整组"].status == ADJUSTED


def test_stale_template_edit_is_refused(client, world, login, db, tpl):
    entry = tpl["entries"]["民兵整组"]
    login("city")
    rv = client.post("/admin/duty-template/line", data={"id": str(entry.id), "post_title": "干事",
                                                         "row_version": str(entry.version + 5)})
    assert rv.status_code == 409 and "此记录已被他人修改" in rv.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DutyTemplateEntry, entry.id).post_title == "武装部部长"
