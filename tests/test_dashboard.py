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


# -- figures that lead somewhere, the to-do list, 89 townships -----------------------------------------
def _row_ids(page: str) -> set[str]:
    return set(re.findall(r'details/\?[^"]*\bid=(\d+)"', page))


def _card_links(page: str) -> dict[str, str]:
    import html

    return {n: html.unescape(u) for u, n in re.findall(r'<a href="([^"]+)" data-figure="(\d+)">', page)}


def test_cards_link_to_the_lists_they_count(client, world, login, db, data):
    import html

    today = datetime.date.today()
    for user in ("shanshan", "louxing", "city"):
        login(user)
        page = client.get("/admin/").get_data(as_text=True)
        fig = dashboard_figures(db.session, Scope.for_user(world.users[user]), today)
        links = _card_links(page)
        for number, expected in (("2", fig.veterans), ("3", fig.militia), ("5", fig.reported_home)):
            listed = client.get(links[number] + "&page_size=500" if "?" in links[number]
                                else links[number] + "?page_size=500").get_data(as_text=True)
            assert len(_row_ids(listed)) == expected, (user, number, links[number])
        assert links["4"] == "#todo-vacancies" and 'id="todo-vacancies"' in page
        todo = html.unescape(page[page.index('id="todo-vacancies"'):])
        assert re.search(r'data-todo="vacancies">(\d+)<', todo).group(1) == str(fig.vacant_posts)


def _overdue_titles(data, townships, today):
    from models.plans import item_overdue

    return sorted(f"{m}月 事项{m}" for t, m, st in data["items"]
                  if t in townships and item_overdue(m, st, today.year, today))


def test_todo_list_counts_and_stays_in_the_township(client, world, login, db, data):
    from models import ServiceRecord
    from views.dashboard import overdue_plan_items, todo_list, vacant_posts

    today = datetime.date(2026, 8, 15)
    people = {p.region_id: p for p in db.session.query(Person).order_by(Person.id)}
    for region, status in ((world.shanshan, "open"), (world.shanshan, "done"), (world.dake, "in_progress")):
        db.session.add(ServiceRecord(person=people[region.id], township=region, kind="policy",
                                     served_on=datetime.date(2026, 8, 1), status=status))
    db.session.commit()
    for user, townships in (("shanshan", {world.shanshan}), ("louxing", {world.shanshan, world.dake}),
                            ("city", {world.shanshan, world.dake, world.tianping})):
        scope = Scope.for_user(world.users[user])
        groups = {g.key: g for g in todo_list(db.session, scope, today)}
        expected_overdue = _figures(db, world.users[user])["plan_overdue"]
        assert groups["overdue"].count == expected_overdue == len(overdue_plan_items(db.session, scope, today))
        assert sorted(text for text, _l, _n in groups["overdue"].items) == \
            _overdue_titles(data, townships, today)[:8]
        assert groups["services"].count == sum(1 for r in (world.shanshan, world.dake) if r in townships)
        fig = dashboard_figures(db.session, scope, today)
        assert groups["vacancies"].count == fig.vacant_posts == len(vacant_posts(db.session, scope, today))
    # another township's clerk sees none of 杉山镇's lines
    dake = {g.key: g for g in todo_list(db.session, Scope.for_user(world.users["dake"]), today)}
    shanshan_items = {i.id for i in overdue_plan_items(db.session, Scope.for_user(world.users["shanshan"]), today)}
    assert shanshan_items and not shanshan_items & {
        i.id for i in overdue_plan_items(db.session, Scope.for_user(world.users["dake"]), today)}
    assert dake["services"].count == 1


def test_template_changed_adjustments_are_to_review(db, world):
    from models import Duty, DutyTemplateEntry
    from views.dashboard import todo_list

    duty = Duty(name="民兵整组", category="armed_forces")
    entry = DutyTemplateEntry(post_title="武装部部长", duty=duty)
    db.session.add_all([duty, entry])
    db.session.flush()
    for township in (world.shanshan, world.tianping):
        db.session.add(DutyAdjustment(township=township, action="reword", duty=duty, template_entry=entry,
                                      new_wording="本地表述", reason="本地", base_post_title="武装部部长",
                                      base_wording="民兵整组"))
    db.session.commit()
    scope = Scope.for_user(world.users["shanshan"])
    assert {g.key: g for g in todo_list(db.session, scope, TODAY)}["template"].count == 0
    entry.wording = "民兵整组与训练"  # the city changes the line beneath both adjustments
    db.session.commit()
    assert {g.key: g for g in todo_list(db.session, scope, TODAY)}["template"].count == 1  # own township only
    city = Scope.for_user(world.users["city"])
    assert {g.key: g for g in todo_list(db.session, city, TODAY)}["template"].count == 2


def test_a_city_of_many_townships_is_grouped_by_county(client, world, login, db):
    from tests.conftest import make_region

    for i in range(30):
        county = (world.louxing, world.xinhua)[i % 2]
        make_region(f"{county.code[:6]}{300 + i:03d}000", f"测试镇{i:02d}", "township", county)
    db.session.commit()
    login("city")
    page = client.get("/admin/").get_data(as_text=True)
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert chart.count("<rect") == 2  # one bar per county, not 33
    assert page.count('class="county-group') == 2 and "<details>" in page
    assert "测试镇29" in page  # every township is still reachable (behind 全部)
    login("louxing")  # a county of 17 townships: still one bar each
    page = client.get("/admin/").get_data(as_text=True)
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert chart.count("<rect") == 17 and "county-group" not in page
