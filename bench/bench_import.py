"""Benchmark of the person import (导入): a clerk's 10,000-row xlsx, previewed and then confirmed, and a
100,000-row xlsx imported as a background job.

Builds fresh SQLite file databases in ``bench/out/`` (a township, a clerk), writes the workbooks with
openpyxl, and times what a clerk does:

* 10,000 rows: the preview (every rule and the write gate's checks, nothing written) and the
  confirmation (the checked rows written through the write gate, committed). Target: both ≤ 10 s.
  Beside it, the stock floor: the same file read with openpyxl and written with ``session.add_all`` into
  a plain table (no form, no write gate, no audit, no pinyin), and the ratio.
* 100,000 rows: the upload becomes an import job (above ``IMPORT_SYNC_ROWS``), run in a fresh process
  (in-process queue) so its peak memory is its own: rows/s, peak RSS, and the progress seen by another
  connection while it runs.

Wall-clock figures on a shared machine are noisy: the CPU time of this process is printed beside them.
Environment: ``BENCH_IMPORT_ROWS`` (default 10000), ``BENCH_IMPORT_JOB_ROWS`` (default 100000; 0 skips
the job), ``BENCH_PROFILE=1`` (a cProfile of the preview). The app runs SQLite file databases in WAL
mode (admin_app/extensions.py), so the progress stays readable while the job writes; the figure says so.
"""

from __future__ import annotations

import cProfile
import datetime
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

try:
    from bench.bench_admin_list import login
except ImportError:  # run as a script from bench/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench.bench_admin_list import login

from bench.citydata import GIVEN, OUT_DIR, PASSWORD, SURNAMES

TARGET_SECONDS = 10.0
HEADER = ["姓名", "公民身份号码", "所属乡镇/村", "政治面貌", "联系电话"]
JOB_SYNC_ROWS = 10_000  # the bench app's IMPORT_SYNC_ROWS (the default): 10,000 rows stay in the request


def workbook(rows: int) -> bytes:
    import openpyxl
    from stdnum.cn import ric

    rnd = random.Random(11)  # noqa: S311 - reproducible fake data
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("人员")
    sheet.append(HEADER)
    for i in range(rows):
        birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=i % 25000)
        body = f"431302{birth:%Y%m%d}{i // 25000:03d}"
        sheet.append([rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN), body + ric.calc_check_digit(body + "0"),
                      "杉山镇", rnd.choice(("中共党员", "群众", "共青团员")), f"139{i:08d}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_app(path: Path, **config):
    from admin_app import create_app
    from admin_app.actor import acting_as, system_actor
    from admin_app.extensions import db
    from models import Grant, Region, User

    path.unlink(missing_ok=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench-" * 4,
                      "SERVER_NAME": "localhost", "WTF_CSRF_ENABLED": False, **config})
    with app.app_context(), acting_as(system_actor("bench")):
        db.create_all()
        city = Region(code="431300000000", name="娄底市", level="city", path="431300000000/")
        county = Region(code="431302000000", name="娄星区", level="county", parent=city,
                        path="431300000000/431302000000/")
        town = Region(code="431302100000", name="杉山镇", level="township", parent=county,
                      path="431300000000/431302000000/431302100000/")
        user = User(username="bench_clerk", display_name="bench_clerk")
        user.set_password(PASSWORD)
        db.session.add_all([city, county, town, user])
        db.session.flush()
        db.session.add(Grant(user=user, role="clerk", region=town))
        db.session.commit()
    return app


class Clock:
    """Wall-clock and CPU seconds of this process over a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def stock_floor(payload: bytes, path: Path) -> tuple[Clock, int]:
    """The same file read with openpyxl and written with ``session.add_all`` into a plain person table:
    no form, no write gate (the model is ``__gate__ = "exempt"``), no audit, no pinyin."""
    import openpyxl
    from sqlalchemy import ForeignKey, Integer, String, create_engine, func, select
    from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

    from models.enums import PoliticalStatus

    class StockBase(DeclarativeBase):
        pass

    class StockRegion(StockBase):
        __tablename__ = "region"
        __gate__ = "exempt"
        id = mapped_column(Integer, primary_key=True)
        name = mapped_column(String(100))

    class StockPerson(StockBase):
        __tablename__ = "person"
        __gate__ = "exempt"
        id = mapped_column(Integer, primary_key=True)
        name = mapped_column(String(40), nullable=False)
        id_number = mapped_column(String(18), unique=True)
        political_status = mapped_column(String(20))
        phone = mapped_column(String(20))
        region_id = mapped_column(Integer, ForeignKey("region.id"), nullable=False)

    path.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    StockBase.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(StockRegion(id=1, name="杉山镇"))
        session.commit()
    statuses = {m.label: m.value for m in PoliticalStatus}
    with Clock() as clock:
        book = openpyxl.load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
        rows = book.worksheets[0].iter_rows(values_only=True)
        next(rows)
        with Session(engine) as session:
            regions = {r.name: r.id for r in session.scalars(select(StockRegion))}
            session.add_all(StockPerson(name=r[0], id_number=r[1], region_id=regions[r[2]],
                                        political_status=statuses.get(r[3]), phone=str(r[4])) for r in rows)
            session.commit()
        book.close()
    with Session(engine) as session:
        stored = session.scalar(select(func.count()).select_from(StockPerson))
    engine.dispose()
    return clock, stored


def sync_import(rows: int) -> bool:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    app = make_app(OUT_DIR / "import-bench.sqlite")
    payload = workbook(rows)
    client = login(app, "bench_clerk", PASSWORD)
    upload = {"file": (io.BytesIO(payload), "people.xlsx")}
    prof = cProfile.Profile() if os.environ.get("BENCH_PROFILE") == "1" else None
    with Clock() as preview:
        if prof:
            prof.enable()
        rv = client.post("/admin/person/import/", data=upload, content_type="multipart/form-data")
        if prof:
            prof.disable()
    page = rv.get_data(as_text=True)
    if rv.status_code != 200 or 'name="token"' not in page:
        print(page[-3000:])
        raise SystemExit(f"preview: HTTP {rv.status_code}")
    token = page.split('name="token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    with Clock() as confirm:
        rv = client.post("/admin/person/import/confirm/", data={"token": token})
    if rv.status_code != 302:
        raise SystemExit(f"confirm: HTTP {rv.status_code}")
    from sqlalchemy import func, select

    from admin_app.extensions import db
    from models import AuditLog, Person

    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Person))
        audited = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.table_name == "person"))
    floor, floor_stored = stock_floor(payload, OUT_DIR / "import-bench-stock.sqlite")
    wall, cpu = preview.wall + confirm.wall, preview.cpu + confirm.cpu
    print(f"\n== person import on sqlite: {rows:,} rows, {len(payload) / 1024:.0f} KB xlsx ==")
    print(f"{'':44}{'wall':>9}{'cpu':>9}")
    print(f"{'preview (form + gate checks, nothing written)':44}{preview.wall:8.2f}s{preview.cpu:8.2f}s")
    print(f"{'confirm (checked rows through gate, commit)':44}{confirm.wall:8.2f}s{confirm.cpu:8.2f}s")
    print(f"{'total':44}{wall:8.2f}s{cpu:8.2f}s")
    print(f"{'stock floor (openpyxl + session.add_all)':44}{floor.wall:8.2f}s{floor.cpu:8.2f}s"
          f"   rows {floor_stored:,}")
    print(f"ratio to the stock floor: {wall / floor.wall:.1f}x wall, {cpu / floor.cpu:.1f}x cpu")
    print(f"rows stored {stored:,}, audit rows {audited:,}")
    ok = stored == rows and audited == rows and wall <= TARGET_SECONDS
    print(f"{'PASS' if ok else 'FAIL'}  import of {rows:,} rows (preview + confirm) <= {TARGET_SECONDS:.0f} s"
          f"  {wall:.2f} s (cpu {cpu:.2f} s)")
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    return ok


# -- the 100,000-row job, in a process of its own --------------------------------------------------------
def job_child(rows: int, workbook_path: str) -> None:
    """Run in a fresh process: upload the file (it becomes a job, run in-process), report as JSON."""
    from sqlalchemy import create_engine, text

    from admin_app.extensions import db
    from models import Job

    payload = Path(workbook_path).read_bytes()
    db_path = OUT_DIR / "import-job-bench.sqlite"
    app = make_app(db_path, JOBS_IMMEDIATE=True, JOBS_URL="memory://", JOBS_DIR=str(OUT_DIR / "import-jobs"),
                   IMPORT_SYNC_ROWS=JOB_SYNC_ROWS, JOBS_PROGRESS_EVERY=1)
    client = login(app, "bench_clerk", PASSWORD)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    samples, stop = [], threading.Event()

    def watch() -> None:  # what 我的任务 polls, from another connection
        engine = create_engine(f"sqlite:///{db_path}", connect_args={"timeout": 0.2})
        while not stop.wait(1.0):
            try:
                with engine.connect() as conn:
                    row = conn.execute(text("SELECT done, total, status FROM job")).first()
                samples.append(list(row) if row else None)
            except Exception as exc:  # noqa: BLE001 - a locked database is a figure too
                samples.append(type(exc).__name__)
        engine.dispose()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with Clock() as clock:
        rv = client.post("/admin/person/import/", data={"file": (io.BytesIO(payload), "people.xlsx")},
                         content_type="multipart/form-data")
    stop.set()
    watcher.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with app.app_context():
        job = db.session.query(Job).one()
        stored = db.session.execute(text("SELECT count(*) FROM person")).scalar()
        journal = db.session.execute(text("PRAGMA journal_mode")).scalar()  # the app's (extensions.py)
        print("@@job@@" + json.dumps({
            "http": rv.status_code, "wall": clock.wall, "cpu": clock.cpu, "status": job.status,
            "done": job.done, "total": job.total, "journal": journal, "message": job.message, "stored": stored,
            "baseline_kb": baseline, "peak_kb": peak, "samples": samples}, ensure_ascii=False))


def job_import(rows: int) -> bool:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"import-job-{rows}.xlsx"
    path.write_bytes(workbook(rows))
    proc = subprocess.run([sys.executable, "-m", "bench.bench_import", "--job-child", str(rows), str(path)],  # noqa: S603
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, check=False)
    found = [line for line in proc.stdout.splitlines() if line.startswith("@@job@@")]
    if proc.returncode or not found:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit("import job: the child process failed")
    r = json.loads(found[0][len("@@job@@"):])
    progress = [s for s in r["samples"] if isinstance(s, list)]
    locked = [s for s in r["samples"] if isinstance(s, str)]
    seen = sorted({s[0] for s in progress if s[2] == "running"})
    print(f"\n== person import as a job on sqlite (journal mode {r['journal']}): {rows:,} rows, "
          f"{path.stat().st_size / 1024:.0f} KB xlsx ==")
    print(f"upload → job → done      {r['wall']:8.1f} s wall  {r['cpu']:8.1f} s cpu  "
          f"{rows / r['wall']:,.0f} rows/s")
    print(f"peak RSS                 {r['peak_kb'] / 1024:8.0f} MB  (after start-up {r['baseline_kb'] / 1024:.0f} MB,"
          f" +{(r['peak_kb'] - r['baseline_kb']) / 1024:.0f} MB for the job)")
    print(f"job {r['status']}: {r['done']:,}/{r['total']:,}  {r['message']}")
    print(f"progress polled by another connection every second: {len(progress)} answers, "
          f"{len(seen)} distinct done values while running (last {seen[-1] if seen else '-'}), "
          f"{len(locked)} refused ({', '.join(sorted(set(locked))) or 'none'})")
    ok = r["status"] == "done" and r["stored"] == rows and r["done"] == r["total"] == rows
    print(f"{'PASS' if ok else 'FAIL'}  {rows:,} rows imported by a job, rows stored {r['stored']:,}")
    return ok


def main() -> int:
    rows = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
    job_rows = int(os.environ.get("BENCH_IMPORT_JOB_ROWS", "100000"))
    ok = sync_import(rows)
    if job_rows:
        ok = job_import(job_rows) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--job-child"]:
        job_child(int(sys.argv[2]), sys.argv[3])
        raise SystemExit(0)
    raise SystemExit(main())
