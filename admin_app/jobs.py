"""Background jobs on Huey: long work (batch prints; later imports, exports, statistics) off the request.

* The queue is Huey, configured from the app config: ``JOBS_URL`` empty (the default) is an SQLite file in
  ``instance/`` (``make run`` needs nothing but Python), ``redis://…`` a Redis queue that web and worker
  machines share in production. Tests run jobs in-process (``huey.immediate``), in the calling thread.
* A job is a ``models.Job`` row owned by the user who started it; the task only carries its id. The worker
  acts as the owner (``acting_as(user_actor(owner))``), so its writes pass the write gate, and it uses the
  owner's scope (``Scope.for_user``) to decide what it may read.
* Claims: a worker starts a job by moving its row from 排队中 to 运行中 with an optimistic-lock UPDATE
  (``version``) and counting the attempt; a second worker holding the same job loses that race (or finds it
  running) and does nothing. Every progress commit re-checks the claim, so a worker that went silent and
  whose job was handed to another stops at its next step instead of finishing twice.
* Survival: Huey retries a failed task (``retries=2``); a task interrupted by a worker shutdown is put back
  on the queue (``SIGNAL_INTERRUPTED``); a job whose worker died outright (no heartbeat — the last progress
  commit — for ``JOBS_STALE_SECONDS``) is re-queued by a periodic task every minute, at most
  ``JOBS_MAX_ATTEMPTS`` times in all. Results are written to a temporary file and renamed into place, so a
  half-written file is never seen.
* Result files live under ``JOBS_DIR/<job id>/`` (``instance/jobs`` by default): with several machines,
  that directory is a volume every web and worker machine mounts.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from models import Job, JobKind, JobStatus, Region, User
from models.base import utcnow
from models.enums import RegionLevel

from .actor import acting_as, system_actor, user_actor
from .config import INSTANCE_DIR
from .extensions import db

if TYPE_CHECKING:  # Huey (with redis and psycopg, ~0.4 s) is imported when a queue is first built
    from huey.api import Huey

log = logging.getLogger(__name__)

TASK_RETRIES = 2
DEFAULTS = {
    "JOBS_IMMEDIATE": None,  # None: immediate when the app is TESTING
    "JOBS_RETRY_DELAY": 10,  # seconds before Huey retries a failed attempt (0 in immediate mode)
    "JOBS_PROGRESS_EVERY": 1,  # commit done/total after this many steps (townships, rows)
    "JOBS_STALE_SECONDS": 15 * 60,  # a running job without a progress commit this long lost its worker
    "JOBS_MAX_ATTEMPTS": 1 + TASK_RETRIES + 2,  # Huey's retries plus two re-queues of a dead worker's job
    "JOBS_PRINT_CHUNK": 8,  # charts per rendered chunk: one progress step each, fonts embedded per chunk
}

FAILED_MESSAGE = "任务失败:%(error)s"
RETRY_MESSAGE = "第 %(n)s 次执行出错,稍后自动重试:%(error)s"
REQUEUED_MESSAGE = "执行进程中断,已重新排队"
GAVE_UP_MESSAGE = "执行进程多次中断,任务已停止。请重新发起。"
OWNER_GONE_MESSAGE = "发起人账号已停用,任务已停止"
SCOPE_MESSAGE = "要打印的区划不在您的授权范围内"
NOTHING_MESSAGE = "授权范围内没有可打印的乡镇/街道"
DONE_MESSAGE = "已完成:%(n)s 个乡镇(街道)"


class JobFailed(Exception):
    """A failure that retrying cannot fix (scope, bad parameters, missing fonts): no retry."""


class LostClaim(Exception):
    """This worker no longer holds the job (another worker took it over): stop without writing."""


# -- the queue -------------------------------------------------------------------------------------
@dataclass
class JobQueue:
    """The Huey instance of one app and its tasks."""

    huey: Huey
    run_job: Callable = field(repr=False)


_build_lock = threading.Lock()


def queue(app: Flask | None = None) -> JobQueue:
    """The app's job queue, built from its config on first use."""
    app = app or current_app._get_current_object()
    found = app.extensions.get("jobs")
    if found is None:
        with _build_lock:
            found = app.extensions.get("jobs")
            if found is None:
                found = app.extensions["jobs"] = _build_queue(app)
    return found


def setting(app: Flask, key: str):
    value = app.config.get(key, DEFAULTS.get(key))
    if key == "JOBS_IMMEDIATE" and value is None:
        return bool(app.testing)
    return value


def make_huey(app: Flask) -> Huey:
    from huey import RedisHuey, SqliteHuey
    from huey.api import MemoryHuey

    url = app.config.get("JOBS_URL") or ""
    name = app.config.get("JOBS_QUEUE") or "yibuyizhan"
    immediate = bool(setting(app, "JOBS_IMMEDIATE"))
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False, immediate=immediate)
    if url == "memory://":
        return MemoryHuey(name, results=False, immediate=immediate)
    if not url or url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):]) if url else INSTANCE_DIR / "jobs-queue.db"
        if not immediate:
            path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, immediate=immediate)
    raise RuntimeError(f"JOBS_URL must be empty, sqlite:///FILE, redis://… or memory://, not {url!r}")


def _build_queue(app: Flask) -> JobQueue:
    from huey import crontab
    from huey.signals import SIGNAL_INTERRUPTED

    huey = make_huey(app)
    delay = 0 if huey.immediate else int(setting(app, "JOBS_RETRY_DELAY"))

    @huey.task(retries=TASK_RETRIES, retry_delay=delay, context=True, name="run_job")
    def run_job(job_id: int, task=None):
        execute(app, job_id, retries_left=task.retries if task is not None else 0)

    @huey.periodic_task(crontab(minute="*"), name="requeue_stale_jobs")
    def requeue_stale():
        with app.app_context():
            requeue_stale_jobs()

    @huey.signal(SIGNAL_INTERRUPTED)
    def on_interrupted(signal, task, *args, **kwargs):
        # The worker was stopped in the middle of a job: give the job back and queue it again.
        if task.name != "run_job":
            return
        job_id = task.args[0]
        with app.app_context():
            _give_back(job_id, REQUEUED_MESSAGE)
        huey.enqueue(task)

    @huey.on_startup()
    def forget_inherited_connections():
        # A forked worker must not reuse the parent's database connections.
        with app.app_context():
            db.engine.dispose(close=False)

    return JobQueue(huey=huey, run_job=run_job)


def send(job_id: int, app: Flask | None = None) -> None:
    """Put a job on the queue (runs it at once in immediate mode)."""
    queue(app).run_job(job_id)


def enqueue(kind: str | JobKind, params: dict, *, title: str = "", owner: User | None = None,
            reuse: bool = True) -> Job:
    """Create a job owned by ``owner`` (default: the logged-in user), commit it and queue it.

    With ``reuse`` an unfinished job of the same kind and parameters of the same owner is returned instead
    of a second one (a double click, a reload of the print link). Writes go through the gate as the
    current actor; a ``WriteRefused`` propagates to the caller.
    """
    from flask_login import current_user

    kind = JobKind(kind).value
    owner = owner or current_user._get_current_object()
    if reuse:
        unfinished = db.session.scalars(select(Job).where(
            Job.owner_id == owner.id, Job.kind == kind,
            Job.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))).all()
        for job in unfinished:
            if job.params == params:
                return job
    job = Job(owner_id=owner.id, kind=kind, params=params, title=title[:200], status=JobStatus.QUEUED.value,
              done=0, total=0, message="", attempts=0)
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    send(job_id)
    db.session.expire(job)  # in immediate mode another session has run it meanwhile
    return job


def result_file(app: Flask, job: Job) -> Path | None:
    """The result file of a finished job (a done job's result, or a refused job's error report), if it
    is (still) there and inside ``JOBS_DIR``."""
    if not job.finished or not job.result_path:
        return None
    base = Path(app.config["JOBS_DIR"]).resolve()
    path = (base / job.result_path).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


# -- running a job ---------------------------------------------------------------------------------
def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:120]


class JobRun:
    """One attempt at a job: progress, heartbeat and the result file, all under this attempt's claim."""

    def __init__(self, app: Flask, job: Job, owner: User, attempt: int):
        self.app = app
        self.job = job
        self.job_id = job.id
        self.owner = owner
        self.attempt = attempt
        self.every = max(1, int(setting(app, "JOBS_PROGRESS_EVERY")))
        self.done = 0
        self._committed = 0

    @property
    def scope(self):
        from .scope import Scope

        return Scope.for_user(self.owner)

    def _hold(self) -> Job:
        """The job row, if this attempt still holds it (refreshed from the database), else LostClaim."""
        db.session.refresh(self.job)
        if self.job.attempts != self.attempt or self.job.status != JobStatus.RUNNING.value:
            raise LostClaim(self.job_id)
        return self.job

    def _commit(self) -> None:
        try:
            db.session.commit()
        except StaleDataError as exc:
            db.session.rollback()
            raise LostClaim(self.job_id) from exc

    def start(self, total: int) -> None:
        job = self._hold()
        job.total, job.done = total, 0
        self._commit()

    def advance(self, steps: int = 1) -> None:
        """``steps`` more units done; commits done/total (the heartbeat) every ``JOBS_PROGRESS_EVERY``."""
        self.done += steps
        if self.done - self._committed >= self.every:
            job = self._hold()
            job.done = min(self.done, job.total)
            self._commit()
            self._committed = self.done

    def note(self, message: str) -> None:
        """Show ``message`` on the job while it runs (committed at once, like a progress step)."""
        job = self._hold()
        job.message = message[:500]
        self._commit()

    def finish(self, data: bytes, filename: str, message: str, *, status: JobStatus = JobStatus.DONE) -> None:
        """Write the result atomically (temporary file, then rename) and end the job: done, or failed
        with a file that explains why (an import's error report)."""
        folder = Path(self.app.config["JOBS_DIR"]) / str(self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        suffix = Path(filename).suffix or ".bin"
        final = folder / f"result{suffix}"
        partial = folder / f".result.{self.attempt}.{os.getpid()}.{threading.get_ident()}.part"
        with open(partial, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        job = self._hold()
        os.replace(partial, final)
        job.status = status.value
        if status == JobStatus.DONE:
            job.done = job.total
        job.result_path = f"{self.job_id}/{final.name}"
        job.result_name = filename[:200]
        job.message = message[:500]
        job.finished_at = utcnow()
        self._commit()


def _claim(app: Flask, job: Job) -> int | None:
    """Start an attempt: 排队中 → 运行中 under the optimistic lock. The attempt number, or None when the
    job is finished, held by a live worker, or was claimed by another worker first."""
    stale = datetime.timedelta(seconds=int(setting(app, "JOBS_STALE_SECONDS")))
    if job.status in (JobStatus.DONE.value, JobStatus.FAILED.value):
        return None
    if job.status == JobStatus.RUNNING.value and job.updated_at > utcnow() - stale:
        return None
    job.status = JobStatus.RUNNING.value
    job.attempts += 1
    job.worker = worker_name()
    job.started_at = utcnow()
    job.done = 0
    job.message = ""
    attempt = job.attempts
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return None
    _remove_partials(app, job.id, keep_attempt=attempt)
    return attempt


def _remove_partials(app: Flask, job_id: int, keep_attempt: int) -> None:
    folder = Path(app.config["JOBS_DIR"]) / str(job_id)
    if folder.is_dir():
        for part in folder.glob(".result.*.part"):
            if not part.name.startswith(f".result.{keep_attempt}."):
                part.unlink(missing_ok=True)


def execute(app: Flask, job_id: int, retries_left: int = 0) -> None:
    """Run one attempt of job ``job_id`` in a fresh app context (a session of its own)."""
    from flask_babel import gettext as _

    with app.app_context():
        job = db.session.get(Job, job_id)
        if job is None:
            return
        owner = db.session.get(User, job.owner_id)
        if owner is None or not owner.active:
            _fail_as_system(job_id, OWNER_GONE_MESSAGE)
            return
        with acting_as(user_actor(owner)):
            attempt = _claim(app, job)
            if attempt is None:
                log.info("job %s: not claimed (finished or held by another worker)", job_id)
                return
            run = JobRun(app, job, owner, attempt)
            try:
                runner_for(job.kind)(run)
            except LostClaim:
                log.warning("job %s: attempt %s lost its claim to another worker; stopped", job_id, attempt)
                db.session.rollback()
            except JobFailed as exc:
                db.session.rollback()
                _end_attempt(job_id, attempt, JobStatus.FAILED, _(FAILED_MESSAGE, error=str(exc)))
            except Exception as exc:
                db.session.rollback()
                log.exception("job %s: attempt %s failed", job_id, attempt)
                error = str(exc)[:300] or type(exc).__name__
                if retries_left > 0:
                    _end_attempt(job_id, attempt, JobStatus.QUEUED, _(RETRY_MESSAGE, n=attempt, error=error))
                else:
                    _end_attempt(job_id, attempt, JobStatus.FAILED, _(FAILED_MESSAGE, error=error))
                raise  # Huey retries while retries are left


def _end_attempt(job_id: int, attempt: int, status: JobStatus, message: str) -> None:
    """Record how an attempt ended, if it still holds the job (the caller acts as the owner)."""
    job = db.session.get(Job, job_id)
    if job is None or job.attempts != attempt or job.status != JobStatus.RUNNING.value:
        return
    job.status = status.value
    job.message = message[:500]
    if status == JobStatus.FAILED:
        job.finished_at = utcnow()
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()


def _fail_as_system(job_id: int, message: str) -> None:
    from flask_babel import gettext as _

    with acting_as(system_actor("jobs")):
        job = db.session.get(Job, job_id)
        if job is None or job.status in (JobStatus.DONE.value, JobStatus.FAILED.value):
            return
        job.status = JobStatus.FAILED.value
        job.message = _(message)
        job.finished_at = utcnow()
        try:
            db.session.commit()
        except StaleDataError:
            db.session.rollback()


def _give_back(job_id: int, message: str) -> bool:
    """A running job whose worker stopped goes back to 排队中 (as its owner). True if it did."""
    from flask_babel import gettext as _

    job = db.session.get(Job, job_id)
    if job is None or job.status != JobStatus.RUNNING.value:
        return False
    owner = db.session.get(User, job.owner_id)
    if owner is None or not owner.active:
        _fail_as_system(job_id, OWNER_GONE_MESSAGE)
        return False
    with acting_as(user_actor(owner)):
        if job.attempts >= int(setting(current_app, "JOBS_MAX_ATTEMPTS")):
            job.status = JobStatus.FAILED.value
            job.message = _(GAVE_UP_MESSAGE)
            job.finished_at = utcnow()
        else:
            job.status = JobStatus.QUEUED.value
            job.message = _(message)
        try:
            db.session.commit()
        except StaleDataError:
            db.session.rollback()
            return False
    return job.status == JobStatus.QUEUED.value


def requeue_stale_jobs() -> list[int]:
    """Jobs whose worker died (running without a heartbeat, or queued but never picked up, for
    ``JOBS_STALE_SECONDS``) go back on the queue. Returns their ids. Safe to run on every worker at once:
    the optimistic lock lets one of them requeue a job."""
    app = current_app._get_current_object()
    cutoff = utcnow() - datetime.timedelta(seconds=int(setting(app, "JOBS_STALE_SECONDS")))
    stmt = select(Job.id, Job.status).where(
        Job.status.in_((JobStatus.RUNNING.value, JobStatus.QUEUED.value)), Job.updated_at < cutoff)
    requeued = []
    for job_id, status in db.session.execute(stmt).all():
        if status == JobStatus.QUEUED.value or _give_back(job_id, REQUEUED_MESSAGE):
            requeued.append(job_id)
            if status == JobStatus.QUEUED.value:
                _touch(job_id)
            send(job_id, app)
    if requeued:
        log.warning("re-queued jobs whose worker stopped: %s", requeued)
    return requeued


def _touch(job_id: int) -> None:
    """Reset a queued job's clock, so it is re-sent once per stale period, not every minute."""
    job = db.session.get(Job, job_id)
    owner = db.session.get(User, job.owner_id) if job else None
    if owner is None or not owner.active:
        return
    with acting_as(user_actor(owner)):
        job.updated_at = utcnow()
        try:
            db.session.commit()
        except StaleDataError:
            db.session.rollback()


# -- job kinds -------------------------------------------------------------------------------------
GROUP_LEVELS = (RegionLevel.CITY.value, RegionLevel.COUNTY.value, RegionLevel.PROVINCE.value)


def townships_to_print(scope, group: Region) -> list[Region]:
    """The townships under ``group`` whose wall chart ``scope`` may print, in code order."""
    from .scope import PRINT

    stmt = (select(Region).where(Region.level == RegionLevel.TOWNSHIP.value,
                                 Region.path.like(group.path + "%")).order_by(Region.code))
    ids = scope.region_ids(PRINT, "Post")
    if ids is not None:
        stmt = stmt.where(Region.id.in_(ids))
    return list(db.session.scalars(stmt))


def run_org_charts(run: JobRun) -> None:
    """Wall charts of every township of a county (or the city) in one PDF, in the owner's scope."""
    from flask_babel import gettext as _

    from printables.batch import chunked, merge_pdfs, render_batch, render_charts
    from printables.cli import worker_config
    from printables.render import PrintEnvironmentError

    from .scope import PRINT

    scope = run.scope
    code = str(run.job.params.get("region", ""))
    group = db.session.scalars(select(Region).where(Region.code == code)).first()
    if (group is None or group.level not in GROUP_LEVELS or not scope.can("Post", PRINT)
            or not scope.covers_path(group.path, PRINT, "Post")):
        raise JobFailed(_(SCOPE_MESSAGE))
    ids = [t.id for t in townships_to_print(scope, group)]
    if not ids:
        raise JobFailed(_(NOTHING_MESSAGE))
    filename = f"{group.name}合署办公架构图.pdf"
    run.start(len(ids))
    app = run.app
    chunk = max(1, int(setting(app, "JOBS_PRINT_CHUNK")))
    workers = min(int(app.config.get("PRINT_WORKERS", 2)), -(-len(ids) // chunk))
    if app.config["SQLALCHEMY_DATABASE_URI"] in ("sqlite://", "sqlite:///:memory:"):
        workers = 1  # worker processes cannot see an in-memory database
    try:
        if workers <= 1:
            parts = []
            for part in chunked(ids, chunk):
                parts.append(render_charts(db.session, part))
                run.advance(len(part))
            data = parts[0] if len(parts) == 1 else merge_pdfs(parts)
        else:
            data = render_batch(ids, config=worker_config(app), workers=workers, chunk_size=chunk,
                                on_done=run.advance, app=app)
    except PrintEnvironmentError as exc:
        raise JobFailed(str(exc)) from exc
    run.finish(data, filename, _(DONE_MESSAGE, n=len(ids)))


# Each kind's runner, as "module:function": the module is imported when a job of that kind runs, so a
# kind lives beside the feature it belongs to (printables, importer, exports, statistics).
RUNNERS: dict[str, str] = {
    JobKind.ORG_CHARTS.value: "admin_app.jobs:run_org_charts",
    JobKind.IMPORT.value: "views.importer:run_import_job",
    JobKind.EXPORT.value: "views.base:run_export_job",
    JobKind.STATISTICS.value: "views.stats:run_statistics_job",
}


def runner_for(kind: str) -> Callable[[JobRun], None]:
    import importlib

    module, _sep, name = RUNNERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


# -- command line ----------------------------------------------------------------------------------
jobs_cli = AppGroup("jobs", help="后台任务(批量打印等)")


@jobs_cli.command("worker")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64),
              help="并行执行的任务数")
@click.option("--worker-type", "-k", default="process", show_default=True,
              type=click.Choice(["process", "thread"]), help="每个任务在子进程或线程中执行")
@with_appcontext
def worker_command(workers: int, worker_type: str) -> None:
    """运行后台任务执行进程(可在多台机器上各运行一个,共用同一队列和数据库)。"""
    app = current_app._get_current_object()
    jobs = queue(app)
    if jobs.huey.immediate:
        raise click.ClickException("JOBS_IMMEDIATE is on (a testing app): there is no queue to consume")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    consumer = jobs.huey.create_consumer(workers=workers, worker_type=worker_type, periodic=True,
                                         check_worker_health=True, flush_locks=False)
    consumer.run()


@jobs_cli.command("requeue-stale")
@with_appcontext
def requeue_stale_command() -> None:
    """把执行进程已中断的任务重新排队(执行进程每分钟自动检查一次)。"""
    ids = requeue_stale_jobs()
    click.echo(f"re-queued: {', '.join(map(str, ids)) or '-'}")
