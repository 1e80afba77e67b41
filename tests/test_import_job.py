"""A file above IMPORT_SYNC_ROWS is imported as a job (views/importer.py run_import_job): the same rules
and the same all-or-nothing error report as the preview, with live progress on 我的任务.

The threshold and the chunk size are made small here, so a few hundred rows exercise the job path with
several chunks (a 100,000-row file is bench/bench_import.py's).
"""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from admin_app.extensions import db as _db
from models import AuditLog, Job, JobStatus, Person

HEADER = ["姓名", "公民身份号码", "所属乡镇/村", "政治面貌", "联系电话"]
ROWS = 300
CHUNK = 40


@pytest.fixture()
def small_jobs(app, tmp_path, monkeypatch):
    """Files above 50 rows become jobs; 40 rows per chunk; progress committed after every chunk."""
    monkeypatch.setitem(app.config, "JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setitem(app.config, "IMPORT_SYNC_ROWS", 50)
    monkeypatch.setitem(app.config, "IMPORT_CHUNK_ROWS", CHUNK)
    monkeypatch.setitem(app.config, "JOBS_PROGRESS_EVERY", 1)
    return tmp_path / "jobs"


def id_number(i: int) -> str:
    from stdnum.cn import ric

    body = f"4313021990{1 + i // 28:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person_rows(count: int = ROWS) -> list[list[str]]:
    return [[f"导入{i}", id_number(i), "杉山镇", "群众", f"139{i:08d}"] for i in range(count)]


def xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, payload: bytes, name: str = "people.xlsx"):
    return client.post("/admin/person/import/", data={"file": (io.BytesIO(payload), name)},
                       content_type="multipart/form-data")


def the_job() -> Job:
    _db.session.expire_all()
    return _db.session.scalars(select(Job)).one()


def snapshot() -> tuple:
    _db.session.expire_all()
    people = sorted(_db.session.execute(select(Person.id, Person.name, Person.id_number, Person.region_id,
                                               Person.version)).all())
    return people, _db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.table_name == "person"))


def report_rows(client, job: Job) -> list[list]:
    status = client.get(f"/admin/jobs/{job.id}.json").get_json()
    assert status["download_url"], status
    rv = client.get(status["download_url"])
    assert rv.status_code == 200
    return [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(rv.data)).active.iter_rows()]


@pytest.fixture()
def progress_log(monkeypatch):
    """(done, total, people in the database) at every progress commit of the job."""
    from admin_app import jobs

    seen = []
    real = jobs.JobRun.advance

    def advance(run, steps=1):
        real(run, steps)
        seen.append((run.job.done, run.job.total, _db.session.scalar(select(func.count()).select_from(Person))))

    monkeypatch.setattr(jobs.JobRun, "advance", advance)
    return seen


def test_a_large_file_is_imported_as_a_job_with_live_progress(client, login, world, small_jobs, progress_log):
    login("shanshan")
    rv = upload(client, xlsx(person_rows()))
    job = the_job()
    assert rv.status_code == 303 and rv.headers["Location"].endswith(f"/admin/jobs/{job.id}")
    assert job.owner_id == world.users["shanshan"].id and job.kind == "import"
    assert job.status == JobStatus.DONE.value, job.message
    assert (job.done, job.total) == (ROWS, ROWS) and "已导入 300 条记录" in job.message
    # progress: committed chunk by chunk while checking, rising to the total, with nothing written yet
    done = [d for d, _t, _n in progress_log]
    assert done == sorted(done) and len(set(done)) >= ROWS // CHUNK and done[-1] == ROWS
    assert {total for _d, total, _n in progress_log} == {ROWS}
    assert {people for _d, _t, people in progress_log} == {0}
    # every row written through the gate, as the owner
    people, audited = snapshot()
    assert len(people) == ROWS and audited == ROWS
    assert {p.region_id for p in _db.session.scalars(select(Person))} == {world.shanshan.id}
    users = _db.session.scalars(select(AuditLog.user_id).where(AuditLog.table_name == "person")).all()
    assert set(users) == {world.users["shanshan"].id}
    assert _db.session.scalars(select(Person).where(Person.name == "导入7")).one().birth_date is not None
    page = client.get(f"/admin/jobs/{job.id}").get_data(as_text=True)
    assert "已导入 300 条记录" in page
    rows = report_rows(client, job)
    assert ["新增", ROWS] in rows
    leftovers = [p.name for p in (small_jobs / str(job.id)).iterdir()]
    assert leftovers == ["result.xlsx"]  # no plan, no error file
    assert not list((small_jobs / "imports").glob("*.upload"))  # the upload is gone once imported


def test_one_bad_row_in_a_job_writes_nothing_and_reports_it(client, login, world, small_jobs, progress_log):
    rows = person_rows()
    rows[249][1] = rows[249][1][:-1] + ("0" if rows[249][1][-1] != "0" else "1")  # a wrong check digit
    rows[270][0] = ""  # a name is required
    before = snapshot()
    login("shanshan")
    upload(client, xlsx(rows))
    job = the_job()
    assert job.status == JobStatus.FAILED.value and (job.done, job.total) == (ROWS, ROWS)
    assert "未导入任何数据" in job.message and "2 处问题" in job.message
    report = report_rows(client, job)
    assert report[0] == ["行号", "字段", "填写内容", "问题"]
    assert [r[:2] for r in report[1:]] == [["251", "公民身份号码"], ["272", "姓名"]]
    assert "校验位" in report[1][3]
    assert snapshot() == before


def test_a_foreign_townships_rows_are_refused_and_the_database_is_unchanged(client, login, world, small_jobs):
    from stdnum.cn import ric

    taken = "43130219800101123" + ric.calc_check_digit("43130219800101123" + "0")
    _db.session.add(Person(name="田坪人", id_number=taken, region=world.tianping))
    _db.session.commit()
    rows = person_rows()
    rows[100][2] = "田坪镇"  # a township of another county: not among the clerk's regions
    rows[200][1] = taken  # names a person of 田坪镇: not an update the clerk may make, and taken
    before = snapshot()
    login("shanshan")
    upload(client, xlsx(rows))
    job = the_job()
    assert job.status == JobStatus.FAILED.value and "未导入任何数据" in job.message
    report = report_rows(client, job)
    lines = {r[0]: r for r in report[1:]}
    assert set(lines) == {"102", "202"}
    assert "找不到“田坪镇”" in lines["102"][3]
    assert lines["202"][1] == "公民身份号码" and "存在" in lines["202"][3]
    assert snapshot() == before
    assert _db.session.scalars(select(Person).where(Person.id_number == taken)).one().name == "田坪人"


def test_a_job_checks_as_its_owner_whoever_runs_it(client, login, world, small_jobs):
    """The dake clerk's file naming 杉山镇 is refused: the job uses its owner's scope, not the worker's."""
    before = snapshot()
    login("dake")
    upload(client, xlsx(person_rows()))
    job = the_job()
    assert job.owner_id == world.users["dake"].id and "未导入任何数据" in job.message
    assert len(report_rows(client, job)) == ROWS + 1
    assert snapshot() == before
    login("shanshan")  # nor may another clerk see the job or its report
    assert client.get(f"/admin/jobs/{job.id}.json").status_code == 404
    assert client.get(f"/admin/jobs/{job.id}/download").status_code == 404


def test_an_attempt_that_dies_while_writing_leaves_nothing_and_the_retry_imports_once(
        client, login, world, small_jobs, monkeypatch):
    from views.importer import FileImport

    real, calls = FileImport._write_chunk, []

    def dies_after_two_chunks(self, chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise OSError("worker killed")
        return real(self, chunk)

    monkeypatch.setattr(FileImport, "_write_chunk", dies_after_two_chunks)
    login("shanshan")
    upload(client, xlsx(person_rows()))
    job = the_job()
    assert job.status == JobStatus.DONE.value and job.attempts == 2, job.message
    people, audited = snapshot()
    assert len(people) == ROWS and audited == ROWS  # the first attempt's two chunks were never kept
    assert len({p[2] for p in people}) == ROWS


def test_a_file_below_the_threshold_is_still_previewed_in_the_request(client, login, world, small_jobs):
    login("shanshan")
    rv = upload(client, xlsx(person_rows(45)))
    assert rv.status_code == 200 and "将新增 45 条" in rv.get_data(as_text=True)
    assert _db.session.scalar(select(func.count()).select_from(Job)) == 0
    token = re.search(r'name="token" value="([^"]+)"', rv.get_data(as_text=True)).group(1)
    assert client.post("/admin/person/import/confirm/", data={"token": token}).status_code == 302
    assert len(snapshot()[0]) == 45


def test_a_viewer_cannot_start_an_import_job(client, login, world, small_jobs):
    login("viewer")
    assert upload(client, xlsx(person_rows())).status_code == 404
    assert _db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_large_gbk_csv_is_a_job_too(client, login, world, small_jobs):
    text = ",".join(HEADER) + "\n" + "\n".join(",".join(row) for row in person_rows(120)) + "\n"
    login("shanshan")
    rv = upload(client, text.encode("gbk"), "people.csv")
    job = the_job()
    assert rv.status_code == 303 and job.status == JobStatus.DONE.value, job.message
    assert (job.done, job.total) == (120, 120) and len(snapshot()[0]) == 120
