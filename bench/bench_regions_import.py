"""Benchmark of the region import (``regions import``) with the 湖南省 file (2,157 rows).

Prints, per database, the time of a first import into an empty table, of a re-import (all unchanged),
of a re-import that moves one county (its townships are re-pathed), and of seeding the demo on top,
plus the SQL statements of the first import; then PASS/FAIL against the target (well under 3 s).

Run ``python -m bench.bench_regions_import``. Environment: ``BENCH_REGIONS_CSV`` (default
``tests/fixtures/regions-hunan.csv``), ``BENCH_DATABASE_URL`` (also run on that PostgreSQL database;
its tables are dropped and recreated).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import event

HUNAN_CSV = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "regions-hunan.csv"
REGIONS_CSV = Path(os.environ.get("BENCH_REGIONS_CSV", HUNAN_CSV))
TARGET_SECONDS = 3.0


def run_on(url: str) -> bool:
    from admin_app import create_app
    from admin_app.actor import acting_as, system_actor
    from admin_app.config import normalise_database_url
    from admin_app.demo import seed_demo
    from admin_app.extensions import db
    from admin_app.regions import import_regions, read_regions_csv

    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "SECRET_KEY": "bench",
                      "TESTING": True})
    # The operator's region import acts as a named system actor, as `regions import --system` does.
    with app.app_context(), acting_as(system_actor("regions-import")):
        db.drop_all()
        db.create_all()
        statements = 0

        def count(*_args):
            nonlocal statements
            statements += 1

        event.listen(db.engine, "before_cursor_execute", count)
        started = time.perf_counter()
        first = import_regions(db.session, read_regions_csv(REGIONS_CSV))
        db.session.commit()
        t_first = time.perf_counter() - started
        event.remove(db.engine, "before_cursor_execute", count)

        started = time.perf_counter()
        again = import_regions(db.session, read_regions_csv(REGIONS_CSV))
        db.session.commit()
        t_again = time.perf_counter() - started

        # Move 娄星区 under 长沙市 and back: every township beneath it gets a new path.
        rows = read_regions_csv(REGIONS_CSV)
        moved = [dict(r, parent_code="430100000000") if r["code"] == "431302000000" else r for r in rows]
        started = time.perf_counter()
        move = import_regions(db.session, moved)
        db.session.commit()
        t_move = time.perf_counter() - started
        import_regions(db.session, rows)
        db.session.commit()

        started = time.perf_counter()
        demo = seed_demo(db.session)
        db.session.commit()
        t_demo = time.perf_counter() - started
        db.session.remove()
        db.drop_all()
    dialect = url.split(":", 1)[0]
    print(f"[{dialect}] first import: {first.created} created in {t_first:.3f} s, {statements} SQL statements")
    print(f"[{dialect}] re-import:    {again.unchanged} unchanged, {again.created} created in {t_again:.3f} s")
    print(f"[{dialect}] move county:  {move.updated} updated, {move.repathed} re-pathed in {t_move:.3f} s")
    print(f"[{dialect}] seed-demo on top: {sum(demo['counts'].values())} rows in {t_demo:.3f} s")
    ok = max(t_first, t_again, t_move) < TARGET_SECONDS
    print(f"[{dialect}] {'PASS' if ok else 'FAIL'}: every import under {TARGET_SECONDS:.0f} s")
    return ok


def main() -> int:
    if not REGIONS_CSV.exists():
        print(f"SKIP: {REGIONS_CSV} not found (set BENCH_REGIONS_CSV)")
        return 0
    ok = run_on("sqlite://")
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if pg_url:
        ok = run_on(pg_url) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
