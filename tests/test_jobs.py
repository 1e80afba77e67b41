"""Background jobs (admin_app/jobs.py, 我的任务): the batch print as a job, progress, scoping, survival.

Most tests run jobs in-process (``huey.immediate``, the testing default). One test starts two real
``flask jobs worker`` processes that share a Redis queue (127.0.0.1:6379, a queue name unique to the run).
"""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from admin_app.actor import acting_as, user_actor
from admin_app.extensions import db as _db
from models import AuditLog, Job, JobStatus


@pytest.fixture()
def jobs_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_DIR", str(tmp_path / "jobs"))
    return tmp_path / "jobs"


def snapshot() -> list[tuple]:
    _db.session.expire_all()
    return [(j.id, j.owner_id, j.status, j.done, j.total, j.version, j.result_path)
            for j in _db.session.scalars(select(Job).order_by(Job.id))]


def test_county_print_runs_as_a_job_and_the_owner_downloads_it(client, login, world, jobs_dir):
    login("louxing")
    rv = client.post(f"/print/{world.louxing.code}/org-charts.pdf")
    assert rv.status_code == 303
    job = _db.session.scalars(select(Job)).one()
    assert rv.headers["Location"].endswith(f"/admin/jobs/{job.id}")
    assert job.owner_id == world.users["louxing"].id and job.params == {"region": world.louxing.code}
    assert job.status == JobStatus.DONE.value and (job.done, job.total) == (2, 2) and job.attempts == 1
    page = client.get(f"/admin/jobs/{job.id}").get_data(as_text=True)
    assert "娄星区合署办公架构图" in page and "已完成" in page and "jobs.js" in page
    status = client.get(f"/admin/jobs/{job.id}.json").get_json()
    assert status["status"] == "done" and status["percent"] == 100 and status["download_url"]
    pdf = client.get(status["download_url"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    names = [p.extract_text().replace(" ", "") for p in PdfReader(io.BytesIO(pdf.data)).pages]
    assert len(names) == 2 and "大科街道" in names[0] and "杉山镇" in names[1]
    assert list((jobs_dir / str(job.id)).iterdir()) == [jobs_dir / str(job.id) / "result.pdf"]
    # the list shows it too, and the job row's writes were audited as its owner
    assert f"/admin/jobs/{job.id}" in client.get("/admin/jobs/").get_data(as_text=True)
    audit = _db.session.scalars(select(AuditLog).where(AuditLog.table_name == "job")).all()
    assert audit and {a.user_id for a in audit} == {world.users["louxing"].id}


def test_another_users_job_is_404_everywhere_and_nothing_changes(client, login, world, jobs_dir):
    login("louxing")
    client.post(f"/print/{world.louxing.code}/org-charts.pdf")
    job = _db.session.scalars(select(Job)).one()
    before = snapshot()
    urls = [f"/admin/jobs/{job.id}", f"/admin/jobs/{job.id}.json", f"/admin/jobs/{job.id}/download"]
    assert all(client.get(u).status_code == 200 for u in urls)
    for other in ("city", "dake", "viewer"):  # not even the city admin sees it
        login(other)
        for url in urls:
            assert client.get(url).status_code == 404, (other, url)
        assert f"/admin/jobs/{job.id}" not in client.get("/admin/jobs/").get_data(as_text=True)
    assert client.get("/admin/jobs/999999.json").status_code == 404
    assert snapshot() == before


def test_clerk_cannot_queue_a_county_print(client, login, world, jobs_dir):
    login("shanshan")
    for code in (world.louxing.code, world.city.code, world.shanshan.code):
        assert client.get(f"/print/{code}/org-charts.pdf").status_code == 404
        assert client.post(f"/print/{code}/org-charts.pdf").status_code == 404
    assert snapshot() == []


def test_the_job_uses_its_owners_scope_when_it_runs(app, world, jobs_dir):
    from admin_app.jobs import enqueue

    clerk = world.users["shanshan"]
    with app.test_request_context(), acting_as(user_actor(clerk)):
        job = enqueue("org_charts", {"region": world.louxing.code}, owner=clerk)
    _db.session.expire_all()
    job = _db.session.get(Job, job.id)
    assert job.status == JobStatus.FAILED.value and "授权范围" in job.message
    assert job.result_path is None and not (jobs_dir / str(job.id)).exists()


def test_a_second_click_shows_the_unfinished_job_instead_of_queueing_another(client, login, world, jobs_dir):
    owner = world.users["louxing"]
    with acting_as(user_actor(owner)):
        waiting = Job(owner_id=owner.id, kind="org_charts", params={"region": world.louxing.code},
                      title="娄星区合署办公架构图")
        _db.session.add(waiting)
        _db.session.commit()
    login("louxing")
    rv = client.post(f"/print/{world.louxing.code}/org-charts.pdf")
    assert rv.status_code == 303 and rv.headers["Location"].endswith(f"/admin/jobs/{waiting.id}")
    assert [row[0] for row in snapshot()] == [waiting.id]


def test_a_failed_attempt_is_retried_and_leaves_no_partial_file(client, login, world, jobs_dir, monkeypatch):
    from printables import batch

    real, calls = batch.render_charts, []

    def flaky(session, ids):
        calls.append(list(ids))
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return real(session, ids)

    monkeypatch.setattr(batch, "render_charts", flaky)
    login("louxing")
    client.post(f"/print/{world.louxing.code}/org-charts.pdf")
    job = _db.session.scalars(select(Job)).one()
    assert job.status == JobStatus.DONE.value and job.attempts == 2 and (job.done, job.total) == (2, 2)
    assert sorted(p.name for p in (jobs_dir / str(job.id)).iterdir()) == ["result.pdf"]


def test_a_job_that_keeps_failing_ends_failed_after_its_retries(client, login, world, jobs_dir, monkeypatch):
    from printables import batch

    def broken(session, ids):
        raise OSError("disk full")

    monkeypatch.setattr(batch, "render_charts", broken)
    login("louxing")
    client.post(f"/print/{world.louxing.code}/org-charts.pdf")
    job = _db.session.scalars(select(Job)).one()
    assert job.status == JobStatus.FAILED.value and job.attempts == 3 and "disk full" in job.message
    assert job.finished_at is not None and job.result_path is None
    status = client.get(f"/admin/jobs/{job.id}.json").get_json()
    assert status["finished"] and status["download_url"] is None
    assert client.get(f"/admin/jobs/{job.id}/download").status_code == 404


def _running_job(world, *, attempts=1, minutes_ago=0):
    import datetime

    from models.base import utcnow

    owner = world.users["louxing"]
    with acting_as(user_actor(owner)):
        job = Job(owner_id=owner.id, kind="org_charts", params={"region": world.louxing.code},
                  title="娄星区合署办公架构图", status=JobStatus.RUNNING.value, attempts=attempts,
                  worker="elsewhere:1:Worker-1")
        _db.session.add(job)
        _db.session.commit()
        _db.session.refresh(job)
        job.updated_at = utcnow() - datetime.timedelta(minutes=minutes_ago)
        _db.session.commit()
    return job.id


def test_a_job_held_by_a_live_worker_is_not_run_twice(app, world, jobs_dir):
    from admin_app.jobs import send

    job_id = _running_job(world, minutes_ago=1)
    before = snapshot()
    send(job_id, app)  # the same job delivered again while its worker is alive
    assert snapshot() == before and not (jobs_dir / str(job_id)).exists()


def test_a_job_whose_worker_died_is_requeued_and_finished_once(app, world, jobs_dir):
    from admin_app.jobs import requeue_stale_jobs

    job_id = _running_job(world, minutes_ago=60)
    fresh = _running_job(world, minutes_ago=0)
    assert requeue_stale_jobs() == [job_id]  # runs at once in immediate mode
    _db.session.expire_all()
    job = _db.session.get(Job, job_id)
    assert job.status == JobStatus.DONE.value and job.attempts == 2 and job.worker != "elsewhere:1:Worker-1"
    assert _db.session.get(Job, fresh).status == JobStatus.RUNNING.value
    assert requeue_stale_jobs() == []


def test_a_job_that_lost_its_claim_stops_without_writing(client, login, world, jobs_dir, monkeypatch):
    """Another worker took the job over (its attempt counter moved on): this one must not finish it."""
    from sqlalchemy import update

    from admin_app import jobs
    from admin_app.actor import system_actor

    def steal(run, steps=1):
        with acting_as(system_actor("tests")), _db.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == run.job_id)
                         .values(attempts=Job.attempts + 1, version=Job.version + 1))
        return real_advance(run, steps)

    real_advance = jobs.JobRun.advance
    monkeypatch.setattr(jobs.JobRun, "advance", steal)
    login("louxing")
    client.post(f"/print/{world.louxing.code}/org-charts.pdf")
    job = _db.session.scalars(select(Job)).one()
    assert job.status == JobStatus.RUNNING.value and job.attempts == 2 and job.result_path is None
    assert not (jobs_dir / str(job.id) / "result.pdf").exists()


def test_an_interrupted_job_goes_back_on_the_queue(app, world, jobs_dir):
    from huey.signals import SIGNAL_INTERRUPTED

    from admin_app.jobs import queue

    job_id = _running_job(world)
    huey = queue(app).huey
    task = queue(app).run_job.s(job_id)
    huey._emit(SIGNAL_INTERRUPTED, task)  # what the consumer does for a task cut off by a shutdown
    _db.session.expire_all()
    job = _db.session.get(Job, job_id)
    assert job.status == JobStatus.DONE.value and job.attempts == 2


# -- two real worker processes on one Redis queue ------------------------------------------------------
REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip():
    import os

    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS_URL} is needed in CI: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")


def test_two_worker_processes_share_one_redis_queue_and_run_every_job_once(tmp_path):
    """Two `flask jobs worker` processes (as on two machines) consume one queue and one database."""
    import os
    import secrets
    import subprocess
    import sys
    import time
    from pathlib import Path

    from conftest import make_region, make_user

    from admin_app import create_app
    from admin_app.actor import system_actor
    from admin_app.jobs import enqueue, queue

    _redis_or_skip()
    name = f"yby-test-{os.getpid()}-{secrets.token_hex(4)}"
    config = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'shared.db'}", "JOBS_URL": REDIS_URL,
              "JOBS_QUEUE": name, "JOBS_DIR": str(tmp_path / "jobs"), "PRINT_WORKERS": 1}
    app = create_app({**config, "TESTING": True, "JOBS_IMMEDIATE": False})
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": secrets.token_hex(32),
           "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"], "JOBS_URL": REDIS_URL, "JOBS_QUEUE": name,
           "JOBS_DIR": config["JOBS_DIR"], "PRINT_WORKERS": "1"}
    env.pop("TEST_DATABASE_URL", None)
    root = Path(__file__).resolve().parent.parent
    logs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
    procs = []
    try:
        with app.app_context():
            _db.create_all()
            with acting_as(system_actor("tests")):
                city = make_region("431300000000", "娄底市", "city")
                county = make_region("431302000000", "娄星区", "county", city)
                make_region("431302100000", "杉山镇", "township", county)
                owner = make_user("louxing", "county_admin", county)
                _db.session.commit()
            for log in logs:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "admin_app", "jobs", "worker", "-w", "1"],
                    cwd=root, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 60
            while not all("consumer started" in log.read_text() for log in logs):
                assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
                assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
                time.sleep(0.2)
            with app.test_request_context(), acting_as(user_actor(owner)):
                ids = [enqueue("org_charts", {"region": county.code}, owner=owner, reuse=False).id
                       for _ in range(6)]
            deadline = time.monotonic() + 120
            while True:
                _db.session.expire_all()
                jobs = _db.session.scalars(select(Job).where(Job.id.in_(ids))).all()
                if all(j.finished for j in jobs):
                    break
                assert time.monotonic() < deadline, [(j.id, j.status, j.message) for j in jobs]
                time.sleep(0.3)
            assert [(j.status, j.attempts, j.done, j.total) for j in jobs] == [("done", 1, 1, 1)] * 6
            for j in jobs:
                assert (Path(config["JOBS_DIR"]) / j.result_path).read_bytes().startswith(b"%PDF")
            consumers = {j.worker.rsplit(":", 1)[0] for j in jobs}  # host:pid of the process that ran it
            assert len(consumers) == 2, consumers  # both workers took jobs
            assert queue(app).huey.pending_count() == 0
            audit = _db.session.scalars(select(AuditLog).where(AuditLog.table_name == "job")).all()
            assert {a.user_id for a in audit} == {owner.id}  # the workers wrote as the job's owner
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        with app.app_context():
            queue(app).huey.storage.flush_all()
            _db.session.remove()
            _db.engine.dispose()
