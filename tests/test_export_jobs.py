"""Big exports and the county/city year-end statistics run as background jobs (我的任务).

* A list export above ``EXPORT_SYNC_ROWS`` rows becomes a job whose file holds exactly the rows (cells,
  masks, formula neutralisation) of the synchronous export of the same list, and is audited alike.
* The job trusts none of its parameters: a clerk's forged screen, filter or format fails the job with a
  message and changes nothing but the job row.
* A job is its owner's: another user's job id is 404.
* The statistics of a county or the city are a job whose figures equal the synchronous ones; a township's
  stay instant.
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from admin_app.actor import acting_as, user_actor
from admin_app.extensions import db as _db
from models import AuditLog, Job, JobStatus, Person
from models.rights import RolePermission
from tests.test_access_matrix import id_number, snapshot
from tests.test_stats import YEAR, actual, expected, facts  # noqa: F401 (facts: a fixture)

EVIL = "=HYPERLINK(\"http://evil.example\",\"人员甲\")"


@pytest.fixture()
def jobs_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_DIR", str(tmp_path / "jobs"))
    return tmp_path / "jobs"


@pytest.fixture()
def people(db, world):
    """23 people in 杉山镇 (20 "甲", 3 "乙", one with a formula for a name), 4 in 大科街道; the clerks lost
    查看敏感信息 on people, so their exports mask ID numbers and phones."""
    rows = [Person(name=f"人员甲{i:02d}", region=world.shanshan, phone=f"138000012{i:02d}",
                   id_number=id_number("431302", "19900101", 100 + i)) for i in range(20)]
    rows[7].name = EVIL
    rows += [Person(name=f"人员乙{i}", region=world.shanshan) for i in range(3)]
    rows += [Person(name=f"人员甲大科{i}", region=world.dake, id_number=id_number("431302", "19800101", 200 + i))
             for i in range(4)]
    db.session.add_all(rows)
    db.session.add(RolePermission(role="clerk", model_name="Person", action="sensitive", allowed=False))
    db.session.commit()
    return rows


def _jobs() -> list[Job]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(Job).order_by(Job.id)))


def _export_audit() -> list[AuditLog]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)))


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [row for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]


def _as_job(client, app, monkeypatch, url: str):
    """POST ``url`` (the confirmation's form) with a threshold below the list's size: the redirect to the job,
    the job, its file."""
    from views import base

    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 3)
    monkeypatch.setattr(base, "EXPORT_BATCH", 7)  # several batches and progress steps
    rv = client.post(url)
    assert rv.status_code == 303, rv.data[:300]
    job = _jobs()[-1]
    assert rv.headers["Location"].endswith(f"/admin/jobs/{job.id}")
    status = client.get(f"/admin/jobs/{job.id}.json").get_json()
    assert status["status"] == "done", status
    download = client.get(status["download_url"])
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    return job, download


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_big_export_becomes_a_job_with_exactly_the_rows_of_the_synchronous_one(
        app, client, login, world, people, jobs_dir, monkeypatch, kind):
    login("shanshan")
    url = f"/admin/person/export/{kind}/?search=甲&sort=0&desc=1&page=3"
    sync = client.get(url)
    assert sync.status_code == 200 and not _jobs()
    job, download = _as_job(client, app, monkeypatch, url)
    assert job.owner_id == world.users["shanshan"].id and job.kind == "export"
    assert job.params == {"endpoint": "person", "format": kind, "args": [["search", "甲"], ["sort", "0"], ["desc", "1"]]}
    assert (job.done, job.total) == (20, 20) and "20" in job.message
    read = _csv_rows if kind == "csv" else _xlsx_rows
    rows = read(download.data)
    assert rows == read(sync.data) and len(rows) == 21  # the header and the 20 "甲" of 杉山镇, in order
    cells = [str(c) for row in rows for c in row]
    assert "'" + EVIL in cells and not any(c.startswith("=") for c in cells)
    assert not any("大科" in c or "乙" in c for c in cells)
    assert id_number("431302", "19900101", 100) not in cells and "13800001200" not in cells  # masked
    assert sum(c.startswith("4313**********") for c in cells) == 20
    assert download.headers["Content-Disposition"] == sync.headers["Content-Disposition"]
    if kind == "csv":
        assert download.data == sync.data
    audit = _export_audit()
    assert [(a.user_id, a.table_name, a.after["rows"]) for a in audit] == [
        (world.users["shanshan"].id, "person", 20)] * 2
    assert str(job.id) in audit[-1].summary


def test_rows_of_equal_sort_values_keep_one_order(app, client, login, world, people, jobs_dir, monkeypatch):
    login("louxing")
    url = "/admin/person/export/csv/?sort=1"  # 性别: most rows share a value
    sync = client.get(url)
    _job, download = _as_job(client, app, monkeypatch, url)
    assert download.data == sync.data and len(_csv_rows(sync.data)) == 28


def test_a_small_export_stays_in_the_request(client, login, world, people, jobs_dir):
    login("louxing")
    rv = client.get("/admin/person/export/csv/")
    assert rv.status_code == 200 and len(_csv_rows(rv.data)) == 28 and not _jobs()


def test_a_county_admin_export_job_sees_what_the_county_admin_sees(app, client, login, world, people, jobs_dir,
                                                                 monkeypatch):
    login("louxing")
    sync = client.get("/admin/person/export/csv/")
    _job, download = _as_job(client, app, monkeypatch, "/admin/person/export/csv/")
    assert download.data == sync.data and id_number("431302", "19900101", 100) in sync.data.decode("utf-8-sig")


def _region_filter_arg(app) -> str:
    from views.base import ScopedRegionFilter

    view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "person")
    return next(f"flt0_{key}" for key, (_i, flt) in view._filter_args.items() if isinstance(flt, ScopedRegionFilter))


def test_the_region_filter_of_a_job_is_the_lists(app, client, login, world, people, jobs_dir, monkeypatch):
    login("louxing")
    url = f"/admin/person/export/csv/?{_region_filter_arg(app)}={world.dake.id}"
    sync = client.get(url)
    _job, download = _as_job(client, app, monkeypatch, url)
    rows = _csv_rows(download.data)
    assert download.data == sync.data and len(rows) == 5 and all("大科" in ",".join(r) for r in rows[1:])


@pytest.mark.parametrize("forged", ["endpoint_lacked", "endpoint_admin", "endpoint_unknown", "filter", "format",
                                    "args"])
def test_a_clerks_forged_export_job_fails_and_changes_nothing_but_the_job(app, db, world, people, jobs_dir, forged):
    from admin_app.jobs import enqueue

    clerk = world.users["shanshan"]
    params = {"endpoint": "person", "format": "csv", "args": []}
    if forged == "endpoint_lacked":
        params["endpoint"] = "post_type"  # a city table: clerks read it, may not export it
    elif forged == "endpoint_admin":
        params["endpoint"] = "user"
    elif forged == "endpoint_unknown":
        params["endpoint"] = "../person"
    elif forged == "filter":
        params["args"] = [[_region_filter_arg(app), str(world.dake.id)]]
    elif forged == "format":
        params["format"] = "html"
    else:
        params["args"] = "search=甲"
    before = {k: v for k, v in snapshot(db).items() if k not in ("job", "audit_log")}
    audit_before = db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    with app.test_request_context(), acting_as(user_actor(clerk)):
        job = enqueue("export", params, owner=clerk)
    job = _jobs()[-1]
    assert job.status == JobStatus.FAILED.value and job.attempts == 1, job.message
    assert ("区划不在您的导出范围内" if forged == "filter" else "该列表不存在或您无权导出") in job.message
    assert job.result_path is None and not (jobs_dir / str(job.id)).exists()
    assert {k: v for k, v in snapshot(db).items() if k not in ("job", "audit_log")} == before
    new_audit = db.session.scalars(select(AuditLog).where(AuditLog.id > (audit_before or 0))).all()
    assert {a.table_name for a in new_audit} <= {"job"} and not any(a.action == "export" for a in new_audit)


def test_an_export_job_is_its_owners(app, client, login, world, people, jobs_dir, monkeypatch):
    login("shanshan")
    job, _download = _as_job(client, app, monkeypatch, "/admin/person/export/xlsx/")
    urls = [f"/admin/jobs/{job.id}", f"/admin/jobs/{job.id}.json", f"/admin/jobs/{job.id}/download"]
    for other in ("dake", "louxing", "city"):
        login(other)
        assert [client.get(u).status_code for u in urls] == [404, 404, 404], other


def test_the_list_page_offers_the_export_links_that_become_jobs(app, client, login, world, people, jobs_dir,
                                                             monkeypatch):
    login("shanshan")
    page = client.get("/admin/person/?search=甲").get_data(as_text=True)
    assert "/admin/person/export/xlsx/?search=" in page and "<script>" not in page


def test_every_screens_export_job_equals_its_synchronous_export(app, client, login, world, db, jobs_dir,
                                                              monkeypatch):
    from tests.conftest import generated_views
    from tests.test_access_matrix import build_rows

    build_rows(db, world.tianping)
    build_rows(db, world.shanshan)
    db.session.commit()
    login("city")
    checked = 0
    for view in generated_views(app):
        if "xlsx" not in view.export_types or view.endpoint == "audit_log":  # (jobs write audit rows)
            continue
        url = f"/admin/{view.endpoint}/export/xlsx/"
        monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 10_000)
        sync = client.get(url)
        if sync.status_code == 404:
            continue  # the city admin may not export it (the rights say so)
        assert sync.status_code == 200, url
        monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 0)
        rv = client.post(url)
        if not _xlsx_rows(sync.data)[1:]:
            assert rv.status_code == 200  # an empty list is never a job
            continue
        assert rv.status_code == 303, url
        status = client.get(rv.headers["Location"] + ".json").get_json()
        assert status["status"] == "done", (url, status)
        assert _xlsx_rows(client.get(status["download_url"]).data) == _xlsx_rows(sync.data), url
        checked += 1
    assert checked >= 20


# -- the year-end statistics ----------------------------------------------------------------------------

@pytest.mark.parametrize(("username", "region", "townships"), [
    ("louxing", "louxing", ["shanshan", "dake"]),
    ("city", "city", ["shanshan", "dake", "tianping"]),
    ("city", "xinhua", ["tianping"]),
])
def test_a_county_or_city_report_is_a_job_with_the_synchronous_figures(app, client, login, db, world, request,
                                                                        jobs_dir, username, region, townships):
    from admin_app.scope import Scope
    from views.stats import stats_xlsx, year_stats

    made = request.getfixturevalue("facts")
    code = getattr(world, region).code
    login(username)
    page = client.get(f"/admin/stats/?region={code}&year={YEAR}").get_data(as_text=True)
    assert page.count('title="在后台生成') == 2 and "<script>" not in page  # the buttons say they make a job
    rv = client.post(f"/admin/stats/export.xlsx?region={code}&year={YEAR}")
    assert rv.status_code == 303
    job = _jobs()[-1]
    assert rv.headers["Location"].endswith(f"/admin/jobs/{job.id}")
    assert job.kind == "statistics" and job.params == {"region": code, "year": YEAR, "format": "xlsx"}
    assert job.status == JobStatus.DONE.value and (job.done, job.total) == (6, 6)
    download = client.get(f"/admin/jobs/{job.id}/download")
    assert download.status_code == 200 and download.mimetype.endswith("sheet")
    assert "%E5%B9%B4%E5%BA%A6%E7%BB%9F%E8%AE%A1%E6%8A%A5%E8%A1%A8.xlsx" in download.headers["Content-Disposition"]
    with app.test_request_context():
        stats = year_stats(Scope.for_user(world.users[username]), getattr(world, region), YEAR)
        assert actual(stats) == expected(made, [getattr(world, t) for t in townships])
        assert _xlsx_rows(download.data) == _xlsx_rows(stats_xlsx(stats))
    rv = client.post(f"/admin/stats/report.pdf?region={code}&year={YEAR}")
    assert rv.status_code == 303
    status = client.get(rv.headers["Location"] + ".json").get_json()
    pdf = client.get(status["download_url"])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).replace(" ", "")
    assert f"{getattr(world, region).name}{YEAR}年度统计报表" in text and "应急分队人数" in text


@pytest.mark.usefixtures("facts")
def test_a_townships_report_stays_instant(client, login, db, world, jobs_dir):
    login("shanshan")
    page = client.get(f"/admin/stats/?region={world.shanshan.code}&year={YEAR}").get_data(as_text=True)
    assert "stats-export" in page and "在后台生成" not in page
    rv = client.get(f"/admin/stats/export.xlsx?region={world.shanshan.code}&year={YEAR}")
    assert rv.status_code == 200 and rv.mimetype.endswith("sheet") and not _jobs()


@pytest.mark.parametrize(("username", "params"), [
    ("shanshan", {"region": "431302000000", "year": YEAR, "format": "xlsx"}),  # a clerk asks for the county
    ("shanshan", {"region": "431300000000", "year": YEAR, "format": "pdf"}),
    ("viewer", {"region": "431300000000", "year": YEAR, "format": "xlsx"}),  # viewers print, never export
    ("louxing", {"region": "431322000000", "year": YEAR, "format": "xlsx"}),  # the other county
    ("louxing", {"region": "431302000000", "year": "2026; drop", "format": "xlsx"}),
    ("louxing", {"region": "431302000000", "year": YEAR, "format": "html"}),
])
@pytest.mark.usefixtures("facts")
def test_a_forged_statistics_job_fails_and_changes_nothing_but_the_job(app, db, world, jobs_dir, username, params):
    from admin_app.jobs import enqueue

    owner = world.users[username]
    before = {k: v for k, v in snapshot(db).items() if k not in ("job", "audit_log")}
    with app.test_request_context(), acting_as(user_actor(owner)):
        enqueue("statistics", params, owner=owner)
    job = _jobs()[-1]
    assert job.status == JobStatus.FAILED.value and "不在您的授权范围内" in job.message
    assert job.result_path is None and not (jobs_dir / str(job.id)).exists()
    assert {k: v for k, v in snapshot(db).items() if k not in ("job", "audit_log")} == before


def test_a_workbook_beyond_excels_row_limit_continues_on_further_sheets(monkeypatch):
    from views import base

    monkeypatch.setattr(base, "XLSX_SHEET_ROWS", 8)
    out = io.BytesIO()
    assert base.write_export(out, "xlsx", "a_very_long_endpoint_name_of_30", ["名称"],
                             ([f"行{i}"] for i in range(20))) == 20
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["a_very_long_endpoint_name_of_30", "a_very_long_endpoint_name_o-2",
                               "a_very_long_endpoint_name_o-3"]
    sheets = [[r[0] for r in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]
    assert [len(s) for s in sheets] == [9, 9, 5] and all(s[0] == "名称" for s in sheets)
    assert [c for s in sheets for c in s[1:]] == [f"行{i}" for i in range(20)]
