"""The home dashboard: every figure equals a count made independently here, inside the user's scope."""

from __future__ import annotations

import datetime
import re

import pytest

from admin_app.scope import Scope
from models import (
    AnnualPlan,
    Appointment,
    Duty,
    DutyAdjustment,
    MilitiaMembership,
    Person,
    PlanItem,
    Post,
    VeteranProfile,
)
from tests.conftest import post_type
from views.dashboard import bar_chart, dashboard_figures, half_year_start, plan_completion

TODAY = datetime.date(2026, 8, 15)


@pytest.fixture()
def data(db, world):
    """Varied rows in three townships and a village; returns plain facts to count from."""
    s = db.session
    facts = {"appointments": [], "posts": [], "veterans": [], "militia": [], "items": [], "adjustments": []}
    places = [world.shanshan, world.dake, world.tianping, world.village]
    duty = Duty(name="民兵整组", category="armed_forces")
    s.add(duty)
    for k, region in enumerate(places):
        township = region if region.level == "township" else world.shanshan
        people = [Person(name=f"人员{k}{i}", region=region) for i in range(4 + k)]
        s.add_all(people)
        posts = [Post(region=region, title=f"岗位{j}", side="station",
                      post_type=post_type(f"岗位{j}", side="station", headcount=1 + (j == 0))) for j in range(3)]
        s.add_all(posts)
        s.flush()
        # post 0: one current holder of two; post 1: a former holder only; post 2: current + future.
        appts = [
            Appointment(person=people[0], post=posts[0], start_on=datetime.date(2020, 1, 1)),
            Appointment(person=people[1], post=posts[1], start_on=datetime.date(2019, 1, 1),
                        end_on=datetime.date(2025, 12, 31)),
            Appointment(person=people[2], post=posts[2], start_on=datetime.date(2024, 1, 1)),
            Appointment(person=people[0], post=posts[2], start_on=datetime.date(2024, 1, 1), concurrent=True),
            Appointment(person=people[3], post=posts[2], start_on=datetime.date(2027, 1, 1)),
        ]
        s.add_all(appts)
        for a in appts:
            facts["appointments"].append((township, region, a.person, a.post, a.start_on, a.end_on))
        for j, p in enumerate(posts):
            facts["posts"].append((township, p, j))
        for i, person in enumerate(people):
            reported = [datetime.date(2026, 7, 20), datetime.date(2026, 3, 1), None,
                        datetime.date(2025, 9, 1), datetime.date(2026, 8, 16)][i % 5]
            if i % 2 == 0 or k == 2:
                s.add(VeteranProfile(person=person, reported_home_on=reported))
                facts["veterans"].append((township, reported))
            year = 2026 if i % 3 else 2025
            s.add(MilitiaMembership(person=person, township=township, year=year, category="core",
                                    unit_type="company"))
            facts["militia"].append((township, person, year))
        if region.level == "township":
            plan = AnnualPlan(township=region, year=2026, title="计划")
            statuses = ["done", "done", "planned", "dropped", "in_progress", "planned"][: 3 + k]
            for m, st in enumerate(statuses, start=5):
                plan.items.append(PlanItem(month=m, title=f"事项{m}", status=st))
                facts["items"].append((township, m, st))
            s.add(plan)
            for _ in range(k + 1):
                adj = DutyAdjustment(township=region, action="add", duty=duty, target_post=posts[0],
                                     reason="本地")
                s.add(adj)
                facts["adjustments"].append(township)
    s.commit()
    return facts


def _expected(facts, townships):
    def current(a):
        return a[4] <= TODAY and (a[5] is None or a[5] >= TODAY)

    staff = {a[2].id for a in facts["appointments"] if a[0] in townships and current(a)}
    holders = {}
    for a in facts["appointments"]:
        if current(a):
            holders[a[3].id] = holders.get(a[3].id, 0) + 1
    posts = [p for t, p, _j in facts["posts"] if t in townships]
    items = [(m, st) for t, m, st in facts["items"] if t in townships]
    counted = [st for _m, st in items if st != "dropped"]
    return {
        "staff": len(staff),
        "veterans": sum(1 for t, _r in facts["veterans"] if t in townships),
        "militia": len({p.id for t, p, y in facts["militia"] if t in townships and y == TODAY.year}),
        "reported_home": sum(1 for t, r in facts["veterans"]
                             if t in townships and r is not None and datetime.date(2026, 7, 1) <= r <= TODAY),
        "posts": len(posts),
        "vacant_posts": sum(1 for p in posts if holders.get(p.id, 0) < p.headcount),
        "empty_posts": sum(1 for p in posts if holders.get(p.id, 0) == 0),
        "adjustments": sum(1 for t in facts["adjustments"] if t in townships),
        "plan_percent": round(100 * counted.count("done") / len(counted)) if counted else None,
        "plan_overdue": sum(1 for m, st in items if st in ("planned", "in_progress") and m < 8),
    }


def _figures(db, user, unit=None):
    fig = dashboard_figures(db.session, Scope.for_user(user), TODAY, unit=unit)
    return {k: getattr(fig, k) for k in ("staff", "veterans", "militia", "reported_home", "posts", "vacant_posts",
                                         "empty_posts", "adjustments", "plan_percent", "plan_overdue")}


def test_clerk_county_city_figures(db, world, data):
    w = world
    assert _figures(db, w.users["shanshan"]) == _expected(data, {w.shanshan})
    assert _figures(db, w.users["louxing"]) == _expected(data, {w.shanshan, w.dake})
    everything = _expected(data, {w.shanshan, w.dake, w.tianping})
    assert _figures(db, w.users["city"]) == everything
    assert _figures(db, w.users["viewer"]) == everything
    # Splitting by county adds up, and a unit never widens the user's scope.
    assert _figures(db, w.users["city"], unit=w.xinhua) == _expected(data, {w.tianping})
    assert _figures(db, w.users["shanshan"], unit=w.xinhua)["staff"] == 0
    assert everything["staff"] > 0 and everything["vacant_posts"] > 0 and everything["reported_home"] > 0


def test_plan_completion_per_township(db, world, data):
    rows = {t.name: pct for t, pct in plan_completion(db.session, Scope.for_user(world.users["louxing"]), TODAY)}
    assert set(rows) == {"杉山镇", "大科街道"}
    assert rows["杉山镇"] == _expected(data, {world.shanshan})["plan_percent"]
    assert rows["大科街道"] == _expected(data, {world.dake})["plan_percent"]


def test_half_year_and_chart_geometry():
    assert half_year_start(datetime.date(2026, 6, 30)) == datetime.date(2026, 1, 1)
    assert half_year_start(datetime.date(2026, 7, 1)) == datetime.date(2026, 7, 1)
    chart = bar_chart([("甲", 100), ("乙", 50), ("丙", None)], width=400, label_width=100)
    assert [b.width for b in chart.bars] == [chart.plot_width, chart.plot_width / 2, 0]
    assert len({b.y for b in chart.bars}) == 3 and chart.height > chart.bars[-1].y + chart.bar_height


def _shown_figures(page: str) -> list[str]:
    return re.findall(r'data-figure="\d+">([^<]*)<', page)


def test_home_page_per_role(client, world, login, db, data):
    login("shanshan")
    page = client.get("/admin/").get_data(as_text=True)
    today = datetime.date.today()
    fig = dashboard_figures(db.session, Scope.for_user(world.users["shanshan"]), today)
    assert _shown_figures(page)[:5] == [str(fig.staff), str(fig.veterans), str(fig.militia),
                                        str(fig.vacant_posts), str(fig.reported_home)]
    assert "<svg" in page and "杉山镇" in page
    assert "大科街道" not in page and "田坪镇" not in page
    login("city")
    page = client.get("/admin/").get_data(as_text=True)
    assert "娄星区" in page and "新化县" in page and "田坪镇" in page  # counties compared, all townships charted
    login("louxing")
    page = client.get("/admin/").get_data(as_text=True)
    assert "大科街道" in page and "田坪镇" not in page
