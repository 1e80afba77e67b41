"""Benchmark of the person import (导入): a clerk's 10,000-row xlsx, previewed and then confirmed.

Builds a fresh SQLite file database in ``bench/out/`` (a township, a clerk), writes the workbook with
openpyxl, and times the two requests a clerk makes: the preview (every rule and the write gate, then
rolled back) and the confirmation (the same, committed). Target: both together ≤ 10 s. Environment:
``BENCH_IMPORT_ROWS`` (default 10000), ``BENCH_PROFILE=1`` (a cProfile of the preview).
"""

from __future__ import annotations

import cProfile
import datetime
import io
import os
import pstats
import random
import sys
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


def workbook(rows: int) -> bytes:
    import openpyxl
    from stdnum.cn import ric

    rnd = random.Random(11)  # noqa: S311 - reproducible fake data
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("人员")
    sheet.append(HEADER)
    for i in range(rows):
        birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=i % 15000)
        body = f"431302{birth:%Y%m%d}{i // 15000:03d}"
        sheet.append([rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN), body + ric.calc_check_digit(body + "0"),
                      "杉山镇", rnd.choice(("中共党员", "群众", "共青团员")), f"139{i:08d}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_app(path: Path):
    from admin_app import create_app
    from admin_app.actor import acting_as, system_actor
    from admin_app.extensions import db
    from models import Grant, Region, User

    path.unlink(missing_ok=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench-" * 4,
                      "SERVER_NAME": "localhost", "WTF_CSRF_ENABLED": False})
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


def main() -> int:
    rows = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    app = make_app(OUT_DIR / "import-bench.sqlite")
    payload = workbook(rows)
    client = login(app, "bench_clerk", PASSWORD)
    upload = {"file": (io.BytesIO(payload), "people.xlsx")}
    prof = cProfile.Profile() if os.environ.get("BENCH_PROFILE") == "1" else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    rv = client.post("/admin/person/import/", data=upload, content_type="multipart/form-data")
    if prof:
        prof.disable()
    preview = time.perf_counter() - started
    page = rv.get_data(as_text=True)
    if rv.status_code != 200 or 'name="token"' not in page:
        print(page[-3000:])
        raise SystemExit(f"preview: HTTP {rv.status_code}")
    token = page.split('name="token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    started = time.perf_counter()
    rv = client.post("/admin/person/import/confirm/", data={"token": token})
    confirm = time.perf_counter() - started
    if rv.status_code != 302:
        raise SystemExit(f"confirm: HTTP {rv.status_code}")
    from admin_app.extensions import db
    from models import Person

    with app.app_context():
        stored = db.session.query(Person).count()
    total = preview + confirm
    print(f"\n== person import on sqlite: {rows:,} rows, {len(payload) / 1024:.0f} KB xlsx ==")
    print(f"preview (validate + gate, rolled back) {preview:7.2f} s")
    print(f"confirm (validate + gate + commit)     {confirm:7.2f} s")
    print(f"rows stored {stored:,}")
    ok = stored == rows and total <= TARGET_SECONDS
    print(f"{'PASS' if ok else 'FAIL'}  import of {rows:,} rows (preview + confirm) <= {TARGET_SECONDS:.0f} s"
          f"  {total:.2f} s")
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
