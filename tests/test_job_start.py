"""Starting a background job (views/jobs.py ``start_job``): a GET never writes, only a CSRF-checked POST queues.

The three links that start jobs (the county/city batch print, a big list export, a county's or the city's
year-end statistics) answer a GET with a confirmation page; its form POSTs to the same URL with the
CSRF token. A GET leaves the database as it was; a POST without the token (or with a forged one) is 400
and queues nothing; a POST with the token queues exactly one job, owned by the user; a clerk's POST for
a region outside the township is refused as the scope rules say (404) and queues nothing.

The queue itself is replaced by a recorder here (``admin_app.jobs.send``): these tests are about starting
a job; tests/test_jobs.py and tests/test_export_jobs.py run them.
"""

from __future__ import annotations

import datetime
import html
import re

import pytest
from sqlalchemy import func, select

from admin_app.extensions import db as _db
from models import AuditLog, Job, JobStatus, Person
from tests.conftest import PASSWORD
from tests.test_access_matrix import snapshot

YEAR = datetime.date.today().year


@pytest.fixture()
def sent(app, tmp_path, monkeypatch) -> list[int]:
    """The ids put on the queue; nothing runs."""
    from admin_app import jobs

    monkeypatch.setitem(app.config, "JOBS_DIR", str(tmp_path / "jobs"))
    ids: list[int] = []
    monkeypatch.setattr(jobs, "send", lambda job_id, app=None: ids.append(job_id))
    return ids


@pytest.fixture()
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


@pytest.fixture()
def people(db, world, app, monkeypatch):
    """Four people in 杉山镇 and a synchronous export limit of one row: the person list export is a job."""
    db.session.add_all([Person(name=f"人员{i}", region=world.shanshan) for i in range(4)])
    db.session.commit()
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 1)


def job_urls(world) -> dict[str, str]:
    """Each link that starts a job, as the county admin 娄星区 sees it."""
    code = world.louxing.code
    return {
        "print": f"/print/{code}/org-charts.pdf",
        "export": "/admin/person/export/xlsx/?search=人员&sort=0",
        "stats_xlsx": f"/admin/stats/export.xlsx?region={code}&year={YEAR}",
        "stats_pdf": f"/admin/stats/report.pdf?region={code}&year={YEAR}",
    }


def _jobs() -> list[Job]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(Job).order_by(Job.id)))


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _login(client, username: str) -> str:
    """Log in through the login form with its token (CSRF is on); the session's CSRF token."""
    token = _token(client.get("/login").get_data(as_text=True))
    rv = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert rv.status_code == 302, rv.data[:300]
    return _token(client.get("/admin/jobs/").get_data(as_text=True))


def _confirm_form(page: str) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form method="post" action="([^"]+)" class="job-confirm-form">(.*?)</form>', page, re.S)
    assert form, "no confirmation form"
    return html.unescape(form.group(1)), dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))


@pytest.mark.parametrize("path", ["print", "export", "stats_xlsx", "stats_pdf"])
def test_a_get_only_asks_and_writes_nothing(client, world, people, sent, csrf_on, db, path):
    _login(client, "louxing")
    url = job_urls(world)[path]
    before = snapshot(db)
    rv = client.get(url)
    assert rv.status_code == 200 and rv.mimetype == "text/html", rv.data[:300]
    page = rv.get_data(as_text=True)
    assert snapshot(db) == before and not _jobs() and not sent
    # what will be made, its size, and a plain form (no inline script) that posts back to the same URL
    assert "将在后台生成《" in page and "完成后可在“我的任务”中下载" in page and "预计规模" in page
    action, fields = _confirm_form(page)
    assert action == url.replace("人员", "%E4%BA%BA%E5%91%98") and fields["csrf_token"]
    assert 'type="submit"' in page and "onclick" not in page and "<script>" not in page
    expected = {"print": ["《娄星区合署办公架构图》", "2 个乡镇(街道)的架构图"],
                "export": ["导出(XLSX)", "约 4 行"],
                "stats_xlsx": [f"《娄星区{YEAR}年度统计报表(XLSX)》", "2 个乡镇(街道)的数据"],
                "stats_pdf": [f"《娄星区{YEAR}年度统计报表(PDF)》", "2 个乡镇(街道)的数据"]}[path]
    assert all(text in page for text in expected), page[-1500:]
    assert client.head(url).status_code == 200 and snapshot(db) == before


@pytest.mark.parametrize("path", ["print", "export", "stats_xlsx", "stats_pdf"])
def test_a_post_without_the_csrf_token_is_refused_and_queues_nothing(client, world, people, sent, csrf_on, db,
                                                                      path):
    _login(client, "louxing")
    url = job_urls(world)[path]
    before = snapshot(db)
    for data in ({}, {"csrf_token": "forged-token"}):
        rv = client.post(url, data=data)
        assert rv.status_code == 400, (url, data, rv.status_code)
    assert snapshot(db) == before and not _jobs() and not sent


@pytest.mark.parametrize("path", ["print", "export", "stats_xlsx", "stats_pdf"])
def test_the_confirmations_post_queues_exactly_one_job_of_the_user(client, world, people, sent, csrf_on, db,
                                                                   path):
    _login(client, "louxing")
    audit_before = _db.session.scalar(select(func.count()).select_from(AuditLog))
    action, fields = _confirm_form(client.get(job_urls(world)[path]).get_data(as_text=True))
    rv = client.post(action, data=fields)
    assert rv.status_code == 303, rv.data[:300]
    [job] = _jobs()
    assert rv.headers["Location"].endswith(f"/admin/jobs/{job.id}") and sent == [job.id]
    assert job.owner_id == world.users["louxing"].id and job.status == JobStatus.QUEUED.value
    assert job.kind == {"print": "org_charts", "export": "export"}.get(path, "statistics")
    assert job.params == {
        "print": {"region": world.louxing.code},
        "export": {"endpoint": "person", "format": "xlsx", "args": [["search", "人员"], ["sort", "0"]]},
        "stats_xlsx": {"region": world.louxing.code, "year": YEAR, "format": "xlsx"},
        "stats_pdf": {"region": world.louxing.code, "year": YEAR, "format": "pdf"},
    }[path]
    assert _db.session.scalar(select(func.count()).select_from(AuditLog)) > audit_before  # the job row's audit
    # the job is shown in 我的任务; a second POST (a double click) finds the same unfinished job
    assert f"/admin/jobs/{job.id}" in client.get("/admin/jobs/").get_data(as_text=True)
    rv = client.post(action, data=fields)
    assert rv.status_code == 303 and rv.headers["Location"].endswith(f"/admin/jobs/{job.id}")
    assert [j.id for j in _jobs()] == [job.id]


def test_a_clerks_post_for_another_region_is_404_and_queues_nothing(client, world, people, sent, csrf_on, db):
    token = _login(client, "shanshan")
    before = snapshot(db)
    foreign = [f"/print/{code}/org-charts.pdf" for code in (world.louxing.code, world.city.code, world.xinhua.code)]
    foreign += [f"/admin/stats/{name}?region={region.code}&year={YEAR}"
                for name in ("export.xlsx", "report.pdf") for region in (world.louxing, world.city, world.dake)]
    for url in foreign:
        assert client.get(url).status_code == 404, url
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url
    assert snapshot(db) == before and not _jobs() and not sent


def test_a_clerks_export_filtered_to_another_township_is_no_job(app, client, world, people, sent, csrf_on, db):
    """The list is the clerk's scoped list: filtered to 大科街道 it is empty, a small synchronous export."""
    from tests.test_export_jobs import _region_filter_arg

    db.session.add_all([Person(name=f"大科人员{i}", region=world.dake) for i in range(3)])
    db.session.commit()
    token = _login(client, "shanshan")
    url = f"/admin/person/export/csv/?{_region_filter_arg(app)}={world.dake.id}"
    for rv in (client.get(url), client.post(url, data={"csrf_token": token})):
        assert rv.status_code in (200, 404), rv.status_code
        assert "大科人员" not in rv.get_data(as_text=True)
    assert not _jobs() and not sent


def test_small_downloads_stay_plain_gets(client, login, world, people, sent, db, app, monkeypatch):
    """A township's report and a list within the limit download at once, as before."""
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 5_000)
    login("shanshan")
    rv = client.get(f"/admin/stats/export.xlsx?region={world.shanshan.code}&year={YEAR}")
    assert rv.status_code == 200 and rv.mimetype.endswith("sheet")
    rv = client.get("/admin/person/export/csv/")
    assert rv.status_code == 200 and rv.mimetype.startswith("text/csv")
    assert not _jobs() and not sent
