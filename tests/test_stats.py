"""年度统计报表: every figure, per township, county and city, equals an independent count of the rows the
test made, through the scope; on screen, as XLSX and as PDF; outside the scope 404."""

from __future__ import annotations

import datetime
import io
from collections import Counter

import openpyxl
import pytest
from pypdf import PdfReader

from admin_app.scope import Scope
from models import (
    AnnualPlan,
    MilitiaMembership,
    MilitiaUnit,
    Person,
    PlanItem,
    ServiceRecord,
    VeteranProfile,
)
from tests.test_access_matrix import id_number, snapshot

YEAR = 2026
D = datetime.date


@pytest.fixture()
def facts(db, world):
    """Rows in 杉山镇, 大科街道 and 田坪镇, each remembered with its township, to count independently."""
    s = db.session
    f = {"veterans": [], "services": [], "members": [], "units": [], "items": []}
    seq = iter(range(1, 999))
    specs = {
        world.shanshan: {"vets": [("self_employed", "enterprise", D(YEAR, 3, 9)), ("transferred", None, D(2019, 9, 9)),
                                   (None, "unemployed", D(YEAR, 9, 12))],
                             "services": [("report_home", "done", D(YEAR, 3, 9), D(YEAR, 3, 12)),
                                       ("policy", "open", D(YEAR, 4, 1), None),
                                       ("startup", "done", D(YEAR, 4, 2), D(YEAR, 4, 22)),
                                       ("report_home", "done", D(YEAR - 1, 9, 9), D(YEAR - 1, 9, 10))],
                             "members": [("core", "emergency"), ("core", "squad"), ("ordinary", None)],
                             "items": ["done", "done", "planned", "dropped"]},
        world.dake: {"vets": [("self_employed", "flexible", D(YEAR, 3, 20))],
                         "services": [("report_home", "done", D(YEAR, 3, 20), D(YEAR, 3, 21)),
                                   ("assistance", "referred", D(YEAR, 5, 5), D(YEAR, 5, 9))],
                         "members": [("core", "squad"), ("ordinary", "company")],
                         "items": ["done", "in_progress"]},
        world.tianping: {"vets": [("monthly_pension", "public_sector", D(2015, 3, 1))],
                             "services": [("visit", "done", D(YEAR, 1, 20), D(YEAR, 1, 20))],
                             "members": [("core", "emergency")],
                             "items": ["planned"]},
    }
    for township, spec in specs.items():
        units = {}
        for kind, planned in (("emergency", 6), ("squad", 4), ("company", 20)):
            units[kind] = MilitiaUnit(township=township, year=YEAR, kind=kind, name=f"{township.name}{kind}",
                                      planned_size=planned)
            s.add(units[kind])
        for discharge, employment, reported in spec["vets"]:
            p = Person(name=f"退役{next(seq)}", region=township)
            s.add_all([p, VeteranProfile(person=p, discharge_type=discharge, employment_status=employment,
                                         reported_home_on=reported)])
            f["veterans"].append((township, discharge, employment, reported))
        for kind, status, served, closed in spec["services"]:
            p = Person(name=f"服务{next(seq)}", region=township)
            r = ServiceRecord(person=p, township=township, kind=kind, status=status, served_on=served,
                              closed_on=closed)
            s.add_all([p, r])
            f["services"].append((township, kind, status, served, closed))
        for category, kind in spec["members"]:
            p = Person(name=f"民兵{next(seq)}", region=township,
                       id_number=id_number("431302", "20000301", next(seq) * 2 % 1000 + 1))
            u = units[kind] if kind else None
            s.add_all([p, MilitiaMembership(person=p, township=township, year=YEAR, category=category, unit=u,
                                            unit_type=u.kind if u else "company")])
            f["members"].append((township, category, kind or "company", u))
        old = Person(name=f"去年{next(seq)}", region=township, id_number=id_number("431302", "20000301",
                                                                                  next(seq) * 2 % 1000 + 1))
        s.add_all([old, MilitiaMembership(person=old, township=township, year=YEAR - 1, category="core",
                                          unit_type="squad")])
        plan = AnnualPlan(township=township, year=YEAR, title="计划")
        for i, status in enumerate(spec["items"], start=1):
            plan.items.append(PlanItem(month=i, title=f"事项{i}", status=status,
                                       completed_on=D(YEAR, i, 20) if status == "done" else None))
            f["items"].append((township, status))
        s.add(plan)
        f["units"] += [(township, u) for u in units.values()]
    s.commit()
    return f


def expected(f, townships) -> dict:
    """The figures counted from the remembered rows of ``townships`` only."""
    vets = [v for v in f["veterans"] if v[0] in townships]
    services = [r for r in f["services"] if r[0] in townships and r[3].year == YEAR]
    members = [m for m in f["members"] if m[0] in townships]
    items = [i for i in f["items"] if i[0] in townships and i[1] != "dropped"]
    days: dict[str, list[int]] = {}
    for _t, kind, _status, served, closed in services:
        if closed is not None:
            days.setdefault(kind, []).append((closed - served).days)
            days.setdefault("*", []).append((closed - served).days)
    return {
        "veterans_total": len(vets),
        "veterans_reported": sum(1 for v in vets if v[3] and v[3].year == YEAR),
        "by_discharge": dict(Counter(v[1] for v in vets)),
        "by_employment": dict(Counter(v[2] for v in vets)),
        "services": dict(Counter((r[1], r[2]) for r in services)),
        "handling_days": {k: sum(v) / len(v) for k, v in days.items()},
        "militia_by_category": dict(Counter(m[1] for m in members)),
        "militia_by_kind": dict(Counter(m[2] for m in members)),
        "emergency_size": sum(1 for m in members if m[2] == "emergency"),
        "plan_total": len(items),
        "plan_done": sum(1 for i in items if i[1] == "done"),
        "units": sorted((t.name, u.name, u.planned_size, sum(1 for m in members if m[3] is u))
                        for t, u in f["units"] if t in townships),
    }


def actual(stats) -> dict:
    out = {k: getattr(stats, k) for k in ("veterans_total", "veterans_reported", "by_discharge", "by_employment",
                                          "services", "handling_days", "militia_by_category", "militia_by_kind",
                                          "emergency_size", "plan_total", "plan_done")}
    out["units"] = sorted((t, u, p, n) for t, u, _k, p, n in stats.units)
    return out


@pytest.mark.parametrize(("username", "region", "townships"), [
    ("shanshan", "shanshan", ["shanshan"]),
    ("louxing", "louxing", ["shanshan", "dake"]),
    ("louxing", "dake", ["dake"]),
    ("city", "city", ["shanshan", "dake", "tianping"]),
    ("city", "xinhua", ["tianping"]),
    ("viewer", "city", ["shanshan", "dake", "tianping"]),
])
def test_every_figure_equals_an_independent_count(app, db, world, facts, username, region, townships):
    from views.stats import year_stats

    with app.test_request_context():
        stats = year_stats(Scope.for_user(world.users[username]), getattr(world, region), YEAR)
        assert actual(stats) == expected(facts, [getattr(world, t) for t in townships])


def test_a_county_admin_asking_for_the_city_counts_only_the_county(app, db, world, facts):
    """Figures go through the user's scope: the city region narrowed to 娄星区's grants."""
    from views.stats import year_stats

    with app.test_request_context():
        stats = year_stats(Scope.for_user(world.users["louxing"]), world.city, YEAR)
        assert actual(stats) == expected(facts, [world.shanshan, world.dake])


@pytest.fixture()
def jobs_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_DIR", str(tmp_path / "jobs"))
    return tmp_path / "jobs"


def via_job(client, url: str):
    """A county's (or the city's) report is a job (started by the confirmation's POST): follow it to 我的任务
    and download its file."""
    rv = client.post(url)
    assert rv.status_code == 303 and "/admin/jobs/" in rv.headers["Location"], (url, rv.status_code)
    status = client.get(rv.headers["Location"] + ".json").get_json()
    assert status["status"] == "done" and (status["done"], status["total"]) == (6, 6), status
    return client.get(status["download_url"])


def test_screen_xlsx_and_pdf_show_the_same_figures(client, login, db, world, facts, jobs_dir):
    login("louxing")
    want = expected(facts, [world.shanshan, world.dake])
    page = client.get(f"/admin/stats/?region={world.louxing.code}&year={YEAR}").get_data(as_text=True)
    assert "娄星区 · 2026" in page
    assert f"<td>合计</td><td>{want['veterans_total']}</td>" in page
    rv = via_job(client, f"/admin/stats/export.xlsx?region={world.louxing.code}&year={YEAR}")
    assert rv.status_code == 200 and rv.mimetype.endswith("sheet")
    cells = [list(row) for row in openpyxl.load_workbook(io.BytesIO(rv.data)).active.iter_rows(values_only=True)]
    militia = [r[0] for r in cells].index("2026 年度民兵(按类别和编组)")
    rows = {r[0]: r[1] for r in cells[militia + 2:militia + 11]}
    assert rows["基干民兵"] == want["militia_by_category"]["core"]
    assert rows["应急分队人数"] == want["emergency_size"]
    assert rows["合计"] == sum(want["militia_by_category"].values())
    services = [r[0] for r in cells].index("2026 年服务事项(按类别和状态)")
    header = cells[services + 1]
    report = next(r for r in cells[services + 2:] if r[0] == "返乡报到")
    assert report[header.index("已办结")] == want["services"][("report_home", "done")]
    assert report[header.index("平均办理天数")] == round(want["handling_days"]["report_home"], 1)
    rv = via_job(client, f"/admin/stats/report.pdf?region={world.louxing.code}&year={YEAR}")
    assert rv.status_code == 200 and rv.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(rv.data)).pages).replace(" ", "")
    assert "娄星区2026年度统计报表" in text and "平均办理天数" in text and "应急分队人数" in text


def test_viewer_prints_but_cannot_export_and_clerk_stays_in_the_township(client, login, db, world, facts,
                                                                          jobs_dir):
    login("viewer")
    assert via_job(client, f"/admin/stats/report.pdf?region={world.city.code}&year={YEAR}").status_code == 200
    assert client.get(f"/admin/stats/export.xlsx?region={world.city.code}&year={YEAR}").status_code == 404
    login("shanshan")
    before = snapshot(db)
    for code in (world.city.code, world.louxing.code, world.dake.code, world.village.code, "999999999999"):
        for url in ("/admin/stats/", "/admin/stats/export.xlsx", "/admin/stats/report.pdf"):
            assert client.get(f"{url}?region={code}&year={YEAR}").status_code == 404, (url, code)
    assert client.get(f"/admin/stats/?region={world.shanshan.code}&year=1800").status_code == 404
    page = client.get("/admin/stats/").get_data(as_text=True)  # default: the widest region in scope
    assert "杉山镇" in page and "大科街道" not in page
    assert snapshot(db) == before
