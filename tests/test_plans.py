"""City plan template → township annual plan, progress and overdue maths, and the plan screens."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

import models.plans as plans_module
from models import AnnualPlan, PlanItem, PlanTemplateItem, Post
from models.plans import instantiate_plan, item_overdue, plan_progress, plan_year_error
from tests.conftest import post_type


@pytest.fixture()
def plan_template(db, world):
    s = db.session
    s.add_all([
        PlanTemplateItem(month=3, title="民兵整组", lead_post_title="武装部部长", sort_order=1),
        PlanTemplateItem(month=3, title="春季退役士兵返乡报到接收", lead_post_title="服务站站长", sort_order=2),
        PlanTemplateItem(month=6, title="兵役登记", lead_post_title="专职人民武装干部"),
        PlanTemplateItem(month=8, title="八一走访慰问", lead_post_title="不存在的岗位"),
        PlanTemplateItem(month=12, title="年终总结表彰", lead_post_title=None),
    ])
    for region in (world.shanshan, world.dake):
        for i, title in enumerate(["武装部部长", "服务站站长", "专职人民武装干部"]):
            s.add(Post(region=region, title=title, side="armed_forces", sort_order=i,
                       post_type=post_type(title, headcount=5)))
    s.commit()


# -- maths -----------------------------------------------------------------------------------------------

def test_overdue_is_month_past_and_not_closed():
    today = datetime.date(2026, 4, 1)
    assert item_overdue(3, "planned", 2026, today)
    assert item_overdue(3, "in_progress", 2026, today)
    assert not item_overdue(3, "done", 2026, today)
    assert not item_overdue(3, "dropped", 2026, today)
    assert not item_overdue(4, "planned", 2026, today)  # April is not over on 1 April
    assert not item_overdue(3, "planned", 2026, datetime.date(2026, 3, 31))  # last day still counts
    assert item_overdue(2, "planned", 2024, datetime.date(2024, 3, 1))  # leap February ends on the 29th
    assert not item_overdue(2, "planned", 2024, datetime.date(2024, 2, 29))
    assert item_overdue(12, "planned", 2025, datetime.date(2026, 1, 1))


def test_progress_per_month_and_overall():
    items = [SimpleNamespace(id=i, month=m, status=st) for i, (m, st) in enumerate([
        (1, "done"), (1, "planned"), (1, "dropped"), (2, "in_progress"), (5, "planned"), (5, "done")], 1)]
    progress = plan_progress(items, 2026, datetime.date(2026, 3, 10))
    jan, feb, may = progress.months[0], progress.months[1], progress.months[4]
    assert (jan.total, jan.done, jan.dropped, jan.overdue, jan.percent) == (3, 1, 1, 1, 50)
    assert (feb.total, feb.done, feb.overdue, feb.percent) == (1, 0, 1, 0)
    assert (may.total, may.done, may.overdue, may.percent) == (2, 1, 0, 50)
    assert progress.months[2].percent is None  # no items in March
    assert (progress.total, progress.done, progress.dropped, progress.overdue) == (6, 2, 1, 2)
    assert progress.percent == 40  # 2 done of 5 that count
    assert progress.overdue_ids == {2, 4}
    assert plan_progress([], 2026, datetime.date(2026, 3, 10)).percent is None


def test_year_rule():
    assert plan_year_error(2026) is None
    assert "2000" in plan_year_error(1900)
    assert plan_year_error(None)
    assert plan_year_error(2101)


# -- instantiation ---------------------------------------------------------------------------------------

def test_instantiate_once_resolves_lead_posts(db, world, plan_template):
    plan, created = instantiate_plan(db.session, world.shanshan, 2026)
    assert created
    assert [(i.month, i.title) for i in plan.items] == [
        (3, "民兵整组"), (3, "春季退役士兵返乡报到接收"), (6, "兵役登记"), (8, "八一走访慰问"), (12, "年终总结表彰")]
    leads = {i.title: i.lead_post for i in plan.items}
    assert leads["民兵整组"].title == "武装部部长" and leads["民兵整组"].region_id == world.shanshan.id
    assert leads["八一走访慰问"] is None and leads["年终总结表彰"] is None
    again, created_again = instantiate_plan(db.session, world.shanshan, 2026)
    assert not created_again and again.id == plan.id
    assert db.session.query(AnnualPlan).count() == 1
    assert db.session.query(PlanItem).count() == 5


def test_concurrent_double_submit_is_stopped_by_the_constraint(db, world, plan_template, monkeypatch):
    first, _ = instantiate_plan(db.session, world.shanshan, 2026)
    calls = []
    real = plans_module.find_plan

    def stale_find(session, township, year):  # the second request looked before the first committed
        calls.append(1)
        return None if len(calls) == 1 else real(session, township, year)

    monkeypatch.setattr(plans_module, "find_plan", stale_find)
    plan, created = instantiate_plan(db.session, world.shanshan, 2026)
    assert not created and plan.id == first.id
    assert db.session.query(AnnualPlan).count() == 1
    assert db.session.query(PlanItem).count() == 5


def test_year_1900_is_refused(db, world, plan_template):
    with pytest.raises(ValueError, match="年度应在"):
        instantiate_plan(db.session, world.shanshan, 1900)
    assert db.session.query(AnnualPlan).count() == 0


# -- screens ---------------------------------------------------------------------------------------------

def test_clerk_generates_plan_in_one_click_twice_one_plan(client, world, login, db, plan_template):
    login("shanshan")
    for _ in range(2):
        rv = client.post("/admin/plans/instantiate", data={"code": world.shanshan.code, "year": "2026"})
        assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.query(AnnualPlan).count() == 1
    page = client.get(f"/admin/plans/{world.shanshan.code}/2026/").get_data(as_text=True)
    assert "民兵整组" in page and "总体完成率" in page
    assert f"/print/{world.shanshan.code}/annual-plan/2026.pdf" in page


def test_bad_year_and_foreign_township(client, world, login, db, plan_template):
    login("shanshan")
    rv = client.post("/admin/plans/instantiate", data={"code": world.shanshan.code, "year": "1900"})
    assert rv.status_code == 400 and "年度应在 2000 至 2100 之间" in rv.get_data(as_text=True)
    rv = client.post("/admin/plans/instantiate", data={"code": world.shanshan.code, "year": "abc"})
    assert rv.status_code == 400 and "请填写年度" in rv.get_data(as_text=True)
    rv = client.post("/admin/plans/instantiate", data={"code": world.dake.code, "year": "2026"})
    assert rv.status_code == 404
    assert client.get(f"/admin/plans/{world.dake.code}/2026/").status_code == 404
    login("viewer")
    assert client.post("/admin/plans/instantiate",
                       data={"code": world.shanshan.code, "year": "2026"}).status_code == 404
    db.session.expire_all()
    assert db.session.query(AnnualPlan).count() == 0


def test_status_update_scoped_and_validated(client, world, login, db, plan_template):
    dake_plan, _ = instantiate_plan(db.session, world.dake, 2026)
    dake_item = dake_plan.items[0].id
    own_plan, _ = instantiate_plan(db.session, world.shanshan, 2026)
    own_item = own_plan.items[0].id
    login("shanshan")
    assert client.post(f"/admin/plans/item/{dake_item}/status", data={"status": "done"}).status_code == 404
    rv = client.post(f"/admin/plans/item/{own_item}/status", data={"status": "bogus"})
    assert rv.status_code == 400 and "请选择状态" in rv.get_data(as_text=True)
    rv = client.post(f"/admin/plans/item/{own_item}/status", data={"status": "done", "completed_on": "x"})
    assert rv.status_code == 400
    db.session.expire_all()
    assert {i.status for i in db.session.scalars(select(PlanItem))} == {"planned"}
    rv = client.post(f"/admin/plans/item/{own_item}/status",
                     data={"status": "done", "completed_on": "2026-03-20"})
    assert rv.status_code == 302
    db.session.expire_all()
    item = db.session.get(PlanItem, own_item)
    assert item.status == "done" and item.completed_on == datetime.date(2026, 3, 20)
    assert db.session.get(PlanItem, dake_item).status == "planned"


def test_inline_lead_post_of_another_township_is_refused(db, world, plan_template):
    plan, _ = instantiate_plan(db.session, world.shanshan, 2026)
    foreign = db.session.scalar(select(Post).where(Post.region_id == world.dake.id))
    item = plan.items[0]
    item.lead_post = foreign
    with db.session.no_autoflush:
        assert "lead_post" in item.check()
    from admin_app.gate import WriteRefused

    with pytest.raises(WriteRefused, match="牵头岗位"):  # and the write gate refuses it on any path
        db.session.flush()
    db.session.rollback()


def test_default_plan_template_covers_the_year_once(db):
    from models.plans import seed_plan_template

    added = seed_plan_template(db.session)
    assert added == db.session.query(PlanTemplateItem).count() > 0
    assert {i.month for i in db.session.scalars(select(PlanTemplateItem))} == set(range(1, 13))
    assert seed_plan_template(db.session) == 0
    assert db.session.query(PlanTemplateItem).count() == added
