"""The access matrix for the hand-made screens, the print routes, restore and jobs.

Every URL rule of a hand-made screen is found in the app's URL map (a new route is picked up, and one
whose parameters this test cannot fill fails it). Each outsider (杉山镇 and 大科街道 clerks, the 娄星区
admin) tries every route with 田坪镇's code and 田坪镇's row ids, by GET and by POST: the answer is 404
(or 405 for a method the route does not take) and the database is unchanged, row for row. A positive
control shows the city admin reaching the same rows, so no check passes vacuously.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import AnnualPlan, AuditLog, DutyAdjustment, PlanItem
from tests.test_access_matrix import OUTSIDERS, build_rows, snapshot

HAND_MADE = ("duty_division", "duty_template_screen", "plan_progress", "rights", "printables", "history",
             "jobs", "print")
YEAR = 2026


def _hand_made_rules(app):
    out = []
    for rule in app.url_map.iter_rules():
        head = rule.endpoint.split(".")[0]
        if head in HAND_MADE or any(rule.endpoint.startswith(h + ".") for h in HAND_MADE):
            if "static" in rule.endpoint:
                continue
            out.append(rule)
    return sorted(out, key=lambda r: r.rule)


@pytest.fixture()
def foreign(world, db):
    """田坪镇's rows of every model, an adjustment, a plan with an item, and an audit entry there."""
    rows = build_rows(db, world.tianping)
    plan = db.session.scalars(select(AnnualPlan).where(AnnualPlan.township_id == world.tianping.id)).first()
    item = db.session.scalars(select(PlanItem).where(PlanItem.plan_id == plan.id)).first()
    adjustment = db.session.scalars(select(DutyAdjustment)
                                    .where(DutyAdjustment.township_id == world.tianping.id)).first()
    db.session.commit()
    entry = db.session.scalars(select(AuditLog).where(AuditLog.region_id == world.tianping.id,
                                                      AuditLog.action == "create")).first()
    return {"rows": rows, "plan": plan, "item": item, "adjustment": adjustment, "entry": entry}


def _fill(rule, world, foreign) -> str | None:
    """The rule's URL with 田坪镇's code and ids, or None when a parameter is unknown."""
    values = {}
    for arg in rule.arguments:
        if arg == "code":  # a county's batch print takes the county (新化县), the rest the township
            values[arg] = world.xinhua.code if "org-charts" in rule.rule else world.tianping.code
        elif arg == "year":
            values[arg] = YEAR
        elif arg == "item_id":
            values[arg] = foreign["item"].id
        elif arg == "log_id":
            values[arg] = foreign["entry"].id
        elif arg in ("id", "adjustment_id"):
            values[arg] = foreign["adjustment"].id
        elif arg == "record_id":
            values[arg] = foreign["rows"]["ServiceRecord"].id
        elif arg == "job_id":
            values[arg] = 10**6  # no job of anyone's: 404 for all; ownership is tested in test_jobs
        else:
            return None
    url = rule.rule
    for key, value in values.items():
        url = url.replace(f"<{key}>", str(value)).replace(f"<int:{key}>", str(value))
    return url


def _form(world, foreign) -> dict:
    """A POST body aimed at 田坪镇 whatever the route reads from it."""
    return {"code": world.tianping.code, "year": str(YEAR), "id": str(foreign["adjustment"].id),
            "item_id": str(foreign["item"].id), "status": "done", "note": "越权", "action": "add",
            "reason": "越权", "duty_name": "越权职责", "category": "non_core", "post_title": "越权岗位",
            "direction": "up", "all": "1", "row_version": "1", "grid": "1"}


def test_every_hand_made_route_is_404_for_outsiders(app, client, login, world, db, foreign):
    rules = _hand_made_rules(app)
    assert len(rules) >= 15, [r.rule for r in rules]
    unknown = [r.rule for r in rules if _fill(r, world, foreign) is None]
    assert unknown == [], f"routes whose parameters this test cannot fill (add them): {unknown}"
    parameterised = [r for r in rules if r.arguments]
    # Positive control: the city admin reaches 田坪镇 on the GET routes that take its code.
    login("city")
    reached = 0
    for rule in parameterised:
        if "GET" in rule.methods and "code" in rule.arguments and "job" not in rule.endpoint:
            status = client.get(_fill(rule, world, foreign)).status_code
            assert status in (200, 303, 503), (rule.rule, status)  # 503: no fonts for a PDF here
            reached += 1
    assert reached >= 5
    for role in OUTSIDERS:
        login(role)
        before = snapshot(db)
        for rule in parameterised:
            url = _fill(rule, world, foreign)
            for method in ("GET", "POST"):
                rv = client.open(url, method=method, data=_form(world, foreign) if method == "POST" else None)
                expected = {404} if method in rule.methods else {404, 405}
                assert rv.status_code in expected, (role, method, rule.rule, rv.status_code)
        # Routes without parameters take their target from the form: aimed at 田坪镇, refused.
        for rule in rules:
            if rule.arguments or "POST" not in rule.methods or rule.endpoint.endswith(("logout",)):
                continue
            rv = client.post(rule.rule, data=_form(world, foreign))
            assert rv.status_code in (400, 404, 409), (role, rule.rule, rv.status_code)
        assert snapshot(db) == before, role


def test_restore_of_a_foreign_entry_is_404_and_changes_nothing(client, login, world, db, foreign):
    entry = foreign["entry"]
    login("city")
    assert client.get(f"/admin/audit_log/details/?id={entry.id}").status_code == 200  # control
    for role in OUTSIDERS:
        login(role)
        before = snapshot(db)
        assert client.post(f"/admin/history/{entry.id}/restore").status_code == 404
        assert client.post("/admin/history/999999999/restore").status_code == 404
        assert snapshot(db) == before


def test_hand_made_screens_share_the_one_base_class(app):
    from flask_admin import AdminIndexView

    from views.base import SecuredModelView
    from views.screens import ScopedScreen

    for view in app.extensions["admin"][0]._views:
        if isinstance(view, SecuredModelView | AdminIndexView):
            continue
        assert isinstance(view, ScopedScreen), f"{type(view).__name__} does not derive from ScopedScreen"
