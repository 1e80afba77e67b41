"""Audit a clerk can read: Chinese names of actions and tables, linked rows by name (无权查看 outside the
scope), masked values, a timeline on each record's page, a searchable and filterable 变更记录."""

from __future__ import annotations

import datetime
import html
import re

from flask import g

from admin_app.scope import Scope
from models import AnnualPlan, AuditLog, Person, PlanItem, Post, RolePermission
from tests.conftest import generated_views, post_type
from views.history import NOT_VISIBLE, action_label, entry_changes, table_label


def _edit_person(client, person, **fields):
    data = {"name": person.name, "region": person.region_id, "row_version": person.version, **fields}
    rv = client.post(f"/admin/person/edit/?id={person.id}", data=data)
    assert rv.status_code == 302, rv.get_data(as_text=True)[-1000:]


def _person(db, world, name="赵卫国", **kw):
    person = Person(name=name, region=world.shanshan, **kw)
    db.session.add(person)
    db.session.commit()
    return person


def test_names_of_actions_and_tables():
    assert [action_label(a) for a in ("create", "update", "delete", "restore")] == ["新建", "修改", "删除", "恢复"]
    assert table_label("person") == "人员" and table_label("annual_plan") == "年度工作计划"
    assert table_label("no_such_table") == "no_such_table"


def test_linked_rows_by_name_and_hidden_outside_the_scope(db, world):
    mine = Post(region=world.shanshan, title="武装部部长", side="armed_forces", post_type=post_type("武装部部长"))
    theirs = Post(region=world.tianping, title="服务站站长", side="station",
                  post_type=post_type("服务站站长", side="station"))
    plan = AnnualPlan(township=world.shanshan, year=2026, title="计划")
    db.session.add_all([mine, theirs, plan])
    db.session.flush()
    item = PlanItem(plan=plan, month=3, title="民兵整组", status="planned", lead_post=mine)
    db.session.add(item)
    db.session.commit()
    entry = AuditLog(action="update", table_name="plan_item", row_id=item.id, summary="民兵整组",
                     at=datetime.datetime(2026, 3, 1),
                     before={"lead_post_id": theirs.id, "status": "planned", "month": 3},
                     after={"lead_post_id": mine.id, "status": "done", "month": 3})  # never added: read only
    g._scope = Scope.for_user(world.users["shanshan"])
    try:
        changes = {c["label"]: (c["before"], c["after"]) for c in entry_changes(entry)}
    finally:
        g.pop("_scope", None)
    assert changes["状态"] == ("计划中", "已完成")  # enum labels, not values
    assert changes["牵头岗位"][0] == NOT_VISIBLE and changes["牵头岗位"][1].startswith("武装部部长")  # names, never ids; 田坪镇's post is hidden
    assert "月份" not in changes  # unchanged fields are left out
    g._scope = Scope.for_user(world.users["city"])
    try:
        changes = {c["label"]: (c["before"], c["after"]) for c in entry_changes(entry)}
    finally:
        g.pop("_scope", None)
    assert [v[:5] for v in changes["牵头岗位"]] == ["服务站站长", "武装部部长"]


def test_timeline_on_the_records_own_page(client, world, login, db):
    person = _person(db, world, phone="13800000000")
    login("shanshan")
    _edit_person(client, person, name="赵卫东")
    db.session.expire_all()
    _edit_person(client, db.session.get(Person, person.id), name="赵卫东", region=world.village.id)
    page = html.unescape(client.get(f"/admin/person/details/?id={person.id}").get_data(as_text=True))
    block = page[page.index("record-timeline"):]
    assert "shanshan" in block and "修改" in block and "新建" in block
    assert re.search(r"姓名:<del[^>]*>赵卫国</del> → 赵卫东", block)
    assert re.search(r"所属乡镇/村:<del[^>]*>杉山镇</del> → 杉山村", block)  # names, not region ids
    # newest first: the region change, then the rename, then the creation
    assert block.index("杉山村") < block.index("赵卫国") < block.index("新建")
    login("dake")
    assert client.get(f"/admin/person/details/?id={person.id}").status_code == 404
    login("viewer")  # may read people, not the audit: no timeline
    page = client.get(f"/admin/person/details/?id={person.id}").get_data(as_text=True)
    assert "record-timeline" not in page


def test_timeline_masks_sensitive_values_without_the_right(client, world, login, db):
    person = _person(db, world, phone="13800000000")
    login("shanshan")
    _edit_person(client, person, phone="13912345678")
    db.session.add(RolePermission(role="clerk", model_name="Person", action="sensitive", allowed=False))
    db.session.commit()
    pages = [client.get(f"/admin/person/details/?id={person.id}").get_data(as_text=True)]
    entry = db.session.query(AuditLog).filter_by(table_name="person", action="update").one()
    pages.append(client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True))
    for page in pages:
        assert "13912345678" not in page and "13800000000" not in page
        assert "139****5678" in page


def _filter_arg(app, column: str) -> str:
    view = next(v for v in generated_views(app) if v.endpoint == "audit_log")
    for i, flt in enumerate(view._filters):
        if getattr(getattr(flt, "column", None), "key", None) == column and type(flt).__name__ == "FilterEqual":
            return f"flt0_{view.get_filter_arg(i, flt)}"
    raise AssertionError(f"no equal filter on {column}")


def test_audit_list_in_chinese_searchable_and_filterable(app, client, world, login, db):
    person = _person(db, world)
    plan = AnnualPlan(township=world.shanshan, year=2026, title="春季整组计划")
    db.session.add(plan)
    db.session.commit()
    login("shanshan")
    _edit_person(client, person, name="赵卫东")
    page = client.get("/admin/audit_log/").get_data(as_text=True)
    assert "修改" in page and "年度工作计划" in page and "人员" in page
    assert ">update<" not in page and ">annual_plan<" not in page
    assert re.search(r'"person", "人员"|person"?[^<]{0,40}人员', page)  # the table filter offers names

    by_table = client.get("/admin/audit_log/", query_string={_filter_arg(app, "table_name"): "annual_plan"})
    text = by_table.get_data(as_text=True)
    assert "春季整组计划" in text and "赵卫东" not in text

    found = client.get("/admin/audit_log/", query_string={"search": "赵卫东"}).get_data(as_text=True)
    assert "赵卫东" in found and "春季整组计划" not in found
    by_actor = client.get("/admin/audit_log/", query_string={"search": "shanshan"}).get_data(as_text=True)
    assert "赵卫东" in by_actor and "春季整组计划" not in by_actor  # the plan was made by the tests' system actor

    entry = db.session.query(AuditLog).filter_by(table_name="person", action="update").one()
    assert re.search(rf'details/\?[^"]*\bid={entry.id}"', found)
    login("dake")  # another township's entries stay out of its list and search
    found = client.get("/admin/audit_log/", query_string={"search": "赵卫东"}).get_data(as_text=True)
    assert not re.search(rf'details/\?[^"]*\bid={entry.id}"', found)
