"""Benchmark of the generated person list (/admin/person/) on a city-scale database.

Prints median and p95 of the list page, a Chinese name search and a pinyin-initials search for a city
admin and a township clerk, the SQL statements per request (counted with a ``before_cursor_execute``
listener) and the same list page under a stock ``flask_admin.contrib.sqla.ModelView`` of the same model,
registered on a second Admin instance in the same app; then PASS/FAIL per target.

Then, when a PostgreSQL server answers at ``BENCH_PG_SERVER`` (default the local one), the province run:
a database of its own (``yby_bench``, created and dropped here) filled inside the server with 2 M people
over the ~2,000 townships of Hunan (``bench.citydata.build_province``, a few minutes), the figures of
issue 12 for a province admin, a city admin and a clerk beside the stock ModelView in the same
round-robin (list, deep and last page, one township, searches, details and edit form), with ratios,
PASS/FAIL per target and the EXPLAIN ANALYZE plans of the list and search queries.

Run ``python -m bench.bench_admin_list`` (or ``make bench``). Environment:
``BENCH_PEOPLE`` (default 100000), ``BENCH_REPEAT`` (timed requests per figure, default 30),
``BENCH_DATABASE_URL`` (also run the city figures on that PostgreSQL database), ``BENCH_PROFILE=1``
(print a cProfile of one clerk and one city list request), ``BENCH_PROVINCE=0`` (skip the province run),
``BENCH_PROVINCE_PEOPLE`` (default 2000000), ``BENCH_KEEP=1`` (keep ``yby_bench`` and reuse it next time).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
from dataclasses import dataclass, field

from sqlalchemy import event, func, select

try:
    from bench.citydata import CityData, build
except ImportError:  # run as a script from bench/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench.citydata import CityData, build

PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE = 50
TARGETS = {"clerk_p50_ms": 50.0, "city_p50_ms": 80.0, "max_queries": 6}
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@dataclass
class Figure:
    label: str
    user: str
    url: str
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    queries: set[int] = field(default_factory=set)
    sql_ms: list[float] = field(default_factory=list)
    rows: int = 0
    size: int = 0  # bytes of the page

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class StatementCounter:
    """Counts SQL statements (and their time) on an engine while ``active``."""

    def __init__(self, engine):
        self.count = 0
        self.seconds = 0.0
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        if self._started:
            self.seconds += time.perf_counter() - self._started.pop()


def make_app(city: CityData):
    """The production app on the city database, plus a stock ModelView of Person at /stock/person/."""
    from flask_admin import Admin
    from flask_admin.contrib.sqla import ModelView
    from flask_admin.theme import Bootstrap4Theme

    from admin_app import create_app
    from admin_app.config import normalise_database_url
    from admin_app.extensions import db
    from models import Person

    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(city.url), "SECRET_KEY": "bench-" * 4,
                      "SERVER_NAME": "localhost"})
    meta = Person.__admin__
    stock = Admin(app, name="stock", url="/stock", endpoint="stock", theme=Bootstrap4Theme(fluid=True))

    class StockPersonView(ModelView):
        column_list = meta["list"]
        column_searchable_list = meta["search"]
        column_filters = ["gender", "political_status", "education"]
        can_set_page_size = True
        can_view_details = True
        page_size = DEFAULT_PAGE

    stock.add_view(StockPersonView(Person, db, endpoint="stock_person", url="/stock/person"))
    return app


def login(app, username: str, password: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_RE.search(page)
    data = {"username": username, "password": password}
    if match:
        data["csrf_token"] = match.group(1) or match.group(2)
    rv = client.post("/login", data=data)
    if rv.status_code != 302:
        raise SystemExit(f"bench login as {username} failed: HTTP {rv.status_code}")
    return client


def measure(clients: dict, counter: StatementCounter, figures: list[Figure], repeat: int,
            warmup: int = 3) -> None:
    """Round-robin over the figures, so load from other processes hits every figure alike."""
    for i in range(warmup + repeat):
        for fig in figures:
            counter.reset()
            start, cpu = time.perf_counter(), time.process_time()
            rv = clients[fig.user].get(fig.url)
            elapsed = (time.perf_counter() - start) * 1000
            cpu = (time.process_time() - cpu) * 1000
            if rv.status_code != 200:
                raise SystemExit(f"{fig.url} as {fig.user}: HTTP {rv.status_code}")
            if i >= warmup:
                fig.times_ms.append(elapsed)
                fig.cpu_ms.append(cpu)
                fig.queries.add(counter.count)
                fig.sql_ms.append(counter.seconds * 1000)
            else:
                fig.rows = rv.get_data(as_text=True).count('class="list-buttons-column"')
                fig.size = len(rv.data)


def profile(client, url: str, title: str, top: int = 25) -> None:
    client.get(url)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        client.get(url)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"\n--- cProfile: {title} ({url}), 5 requests ---")
    print(out.getvalue())


def search_terms(app, township_code: str) -> tuple[str, str]:
    """A Chinese name fragment and a pinyin-initials term that match people of the clerk's township."""
    from admin_app.extensions import db
    from models import Person, Region

    with app.app_context():
        name, initials = db.session.execute(
            select(Person.name, Person.name_initials).join(Region).where(Region.code == township_code,
                                                                         func.length(Person.name) == 3)
            .order_by(Person.id).limit(1)).one()
    return name[1:], initials


def run(city: CityData, repeat: int, do_profile: bool) -> list[tuple[str, bool, str]]:
    from admin_app.extensions import db
    from models import Person

    app = make_app(city)
    with app.app_context():
        counter = StatementCounter(db.engine)
        total = db.session.scalar(select(func.count()).select_from(Person))
        dialect = db.engine.dialect.name
    clients = {"clerk": login(app, city.clerk_user, city.password),
               "city": login(app, city.city_user, city.password)}
    clients["stock"] = clients["city"]  # the stock view ignores the login; same session cookie cost
    name_term, pinyin_term = search_terms(app, city.clerk_township)

    figures: list[Figure] = []
    for user in ("clerk", "city"):
        for size in PAGE_SIZES:
            figures.append(Figure(f"list page_size={size}", user, f"/admin/person/?page_size={size}"))
    for size in PAGE_SIZES:
        figures.append(Figure(f"stock list page_size={size}", "stock", f"/stock/person/?page_size={size}"))
    for user in ("clerk", "city"):
        figures.append(Figure(f"name search '{name_term}'", user, f"/admin/person/?search={name_term}"))
        figures.append(Figure(f"pinyin search '{pinyin_term}'", user, f"/admin/person/?search={pinyin_term}"))
    measure(clients, counter, figures, repeat)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n== person list on {dialect}: {total:,} people, {city.townships} townships, "
          f"{repeat} timed requests per figure (after 3 warm-up, round-robin), "
          f"{os.cpu_count()} CPUs, load average {load:.1f} ==")
    print("   p50/p95: wall time of the in-process request; cpu: this process's CPU time per request;"
          " sql: time inside cursor.execute")
    print(f"{'figure':<34} {'user':<6} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'queries':>8} "
          f"{'sql p50':>8} {'rows':>5}")
    for fig in figures:
        queries = "/".join(str(q) for q in sorted(fig.queries))
        print(f"{fig.label:<34} {fig.user:<6} {fig.p50:8.1f} {fig.p95:8.1f} "
              f"{statistics.median(fig.cpu_ms):8.1f} {queries:>8} {statistics.median(fig.sql_ms):8.1f} "
              f"{fig.rows:5d}")

    def get(user: str, size: int) -> Figure:
        return next(f for f in figures if f.user == user and f.label.endswith(f"list page_size={size}"))

    results: list[tuple[str, bool, str]] = []
    clerk, cityf = get("clerk", DEFAULT_PAGE), get("city", DEFAULT_PAGE)
    results.append((f"clerk list p50 <= {TARGETS['clerk_p50_ms']:.0f} ms (page_size {DEFAULT_PAGE})",
                    clerk.p50 <= TARGETS["clerk_p50_ms"], f"{clerk.p50:.1f} ms"))
    results.append((f"city list p50 <= {TARGETS['city_p50_ms']:.0f} ms (page_size {DEFAULT_PAGE})",
                    cityf.p50 <= TARGETS["city_p50_ms"], f"{cityf.p50:.1f} ms"))
    for user in ("clerk", "city"):
        per_size = {size: get(user, size).queries for size in PAGE_SIZES}
        flat = set().union(*per_size.values())
        ok = len(flat) == 1 and max(flat) <= TARGETS["max_queries"]
        shown = ", ".join(f"{s}:{'/'.join(map(str, sorted(q)))}" for s, q in per_size.items())
        results.append((f"{user} queries per page constant and <= {TARGETS['max_queries']}", ok, shown))
    for size in PAGE_SIZES:
        ours, theirs = get("city", size), get("stock", size)
        ratio = ours.p50 / theirs.p50
        results.append((f"city list not slower than stock ModelView (page_size {size})", ratio <= 1.0,
                         f"ratio {ratio:.2f} ({ours.p50:.1f} / {theirs.p50:.1f} ms)"))
    print()
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<58} {detail}")
    if do_profile:
        profile(clients["clerk"], f"/admin/person/?page_size={DEFAULT_PAGE}", "clerk list")
        profile(clients["city"], f"/admin/person/?page_size={DEFAULT_PAGE}", "city list")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


# -- province scale on PostgreSQL -------------------------------------------------------------------
PROVINCE_TARGETS = {"search_p50_ms": 100.0, "admin_list_p50_ms": 100.0, "clerk_p50_ms": 50.0}


class StatementLog(StatementCounter):
    """Also keeps the statements of the request (to EXPLAIN them afterwards)."""

    def __init__(self, engine):
        super().__init__(engine)
        self.statements: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute", self._keep)

    def reset(self) -> None:
        super().reset()
        self.statements = []

    def _keep(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))


def make_province_app(url: str):
    """The app on the province database plus the stock ModelView, with its details and edit pages."""
    return make_app(type("Url", (), {"url": url})())


def _server_url(database: str) -> str:
    base = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
    return base.rsplit("/", 1)[0] + "/" + database


def _pg_available() -> bool:
    from sqlalchemy import create_engine

    try:
        engine = create_engine(_server_url("postgres").replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - no server: the province figures are skipped, said so
        return False


def _admin_database(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(_server_url("postgres").replace("postgresql://", "postgresql+psycopg://", 1),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def explain(app, statements: list[tuple[str, object]], title: str) -> None:
    """EXPLAIN ANALYZE the person queries of one request (the list and its count)."""
    from admin_app.extensions import db

    print(f"\n--- EXPLAIN ANALYZE: {title} ---")
    with app.app_context():
        with db.engine.connect() as conn:
            for statement, params in statements:
                if not statement.lstrip().upper().startswith("SELECT") or "FROM person" not in statement:
                    continue
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement,
                                            params).scalars().all()
                print("  " + statement.split("\n")[0][:150] + " …")
                for line in plan:
                    print("    " + line)


def last_page(client, url: str) -> int:
    """The (0-based) page number the pager's last-page link of ``url`` names."""
    html = client.get(url).get_data(as_text=True)
    pages = [int(n) for n in re.findall(r"[?&]page=(\d+)", html)]
    return max(pages, default=0)


def last_rows_check(app, client, page: int) -> tuple[str, bool, str]:
    """The province's last page (read from the end) shows the list's last rows: the oldest people of the
    newest-first list, in its order."""
    from admin_app.extensions import db
    from models import Person

    html = client.get(f"/admin/person/?page={page}").get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', html)]
    with app.app_context():
        oldest = db.session.scalars(select(Person.id).order_by(Person.id).limit(max(1, len(shown)))).all()
    ok = bool(shown) and shown == sorted(oldest, reverse=True)
    return (f"last page {page + 1:,} shows the last rows of the list", ok,
            f"{len(shown)} rows, ids {shown[0] if shown else '-'} … {shown[-1] if shown else '-'}")


def run_province(repeat: int) -> list[tuple[str, bool, str]]:
    """2 M people over ~2,000 townships in a database of its own (created and dropped here)."""
    from admin_app.extensions import db
    from bench.citydata import PROVINCE_PEOPLE, build_province
    from models import Person, Region

    people = int(os.environ.get("BENCH_PROVINCE_PEOPLE", str(PROVINCE_PEOPLE)))
    name = os.environ.get("BENCH_PROVINCE_DB", "yby_bench")
    keep = os.environ.get("BENCH_KEEP") == "1"  # reuse a database built before (BENCH_KEEP=1 both times)
    url = _server_url(name)
    reuse = False
    if keep:
        try:
            from sqlalchemy import create_engine, text

            engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.connect() as conn:
                reuse = conn.execute(text("SELECT count(*) FROM person")).scalar() == people
            engine.dispose()
        except Exception:  # noqa: BLE001 - not there yet: build it
            reuse = False
    if not reuse:
        _admin_database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin_database(f'CREATE DATABASE "{name}"')
        print(f"building the province database {name} ({people:,} people) …", flush=True)
        build_province(url, people)
    try:
        app = make_province_app(url)
        with app.app_context():
            log = StatementLog(db.engine)
            township = db.session.scalar(select(Region.id).where(Region.code == "431302100000"))
            person_id = db.session.scalar(select(Person.id).where(Person.region_id == township)
                                          .order_by(Person.id.desc()).limit(1))
            total = db.session.scalar(select(func.count()).select_from(Person))
        password = "yibuyizhan-bench"  # noqa: S105 - the bench users' password (bench.citydata)
        clients = {"province": login(app, "bench_province", password), "city": login(app, "bench_city", password),
                   "clerk": login(app, "bench_clerk", password)}
        clients["stock"] = clients["province"]
        # The last page is the one the pager's » links to: with an estimated count ("约 1,999,849") that
        # is the estimate's last page, which holds the last rows of the list (views/listing.deep_page).
        deep = last_page(clients["province"], "/admin/person/")
        city_deep = max(0, people * 89 // 2008 // DEFAULT_PAGE - 2)
        figures = [
            Figure("list of 50", "province", "/admin/person/"),
            Figure("list of 50", "stock", "/stock/person/"),
            Figure("list of 50", "city", "/admin/person/"),
            Figure("list of 50", "clerk", "/admin/person/"),
            Figure("deep page 2,000", "province", "/admin/person/?page=1999"),
            Figure("deep page 2,000", "stock", "/stock/person/?page=1999"),
            # The middle of the list is the worst page: the farthest from either end (listing.deep_page).
            Figure(f"middle page {deep // 2 + 1:,}", "province", f"/admin/person/?page={deep // 2}"),
            Figure(f"middle page {deep // 2 + 1:,}", "stock", f"/stock/person/?page={deep // 2}"),
            Figure(f"last page {deep + 1:,}", "province", f"/admin/person/?page={deep}"),
            Figure(f"last page {deep + 1:,}", "stock", f"/stock/person/?page={deep}"),
            Figure(f"deep page {city_deep + 1}", "city", f"/admin/person/?page={city_deep}"),
            Figure("filtered to one township", "province", f"/admin/person/?flt0_0={township}"),
        ]
        for term in ("lsw", "建国", "zhangjian", "王"):
            for user, base in (("province", "/admin"), ("stock", "/stock"), ("city", "/admin"), ("clerk", "/admin")):
                if user == "stock" and term not in ("lsw", "建国"):
                    continue  # ~4 s a request at 2 M: the two terms are enough to compare
                figures.append(Figure(f"search '{term}'", user, f"{base}/person/?search={term}"))
        for user, base in (("province", "/admin"), ("stock", "/stock"), ("clerk", "/admin")):
            figures.append(Figure("details", user, f"{base}/person/details/?id={person_id}"))
            figures.append(Figure("edit form", user, f"{base}/person/edit/?id={person_id}"))
        measure(clients, log, figures, repeat)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\n== person screens on postgresql: {total:,} people, ~2,000 townships, {repeat} timed requests "
              f"per figure (after 3 warm-up, round-robin), {os.cpu_count()} CPUs, load average {load:.1f} ==")
        print(f"{'figure':<30} {'user':<9} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'sql p50':>8} "
              f"{'KB':>6} {'vs stock':>9}")
        stock = {f.label: f for f in figures if f.user == "stock"}
        for fig in figures:
            ratio = f"{fig.p50 / stock[fig.label].p50:.2f}x" if fig.label in stock and fig.user != "stock" else ""
            print(f"{fig.label:<30} {fig.user:<9} {fig.p50:8.1f} {fig.p95:8.1f} "
                  f"{'/'.join(map(str, sorted(fig.queries))):>8} {statistics.median(fig.sql_ms):8.1f} "
                  f"{fig.size / 1024:6.0f} {ratio:>9}")
        for fig in figures:
            if fig.user in ("province", "city") and (fig.label.startswith(("search", "list", "deep", "middle", "last"))):
                log.reset()
                clients[fig.user].get(fig.url)
                explain(app, list(log.statements), f"{fig.label} as {fig.user}")
        results: list[tuple[str, bool, str]] = []
        for fig in figures:
            if fig.user == "stock":
                continue
            if fig.label.startswith("search"):
                target = PROVINCE_TARGETS["clerk_p50_ms" if fig.user == "clerk" else "search_p50_ms"]
            elif fig.label in ("details", "edit form"):
                theirs = stock[fig.label].p50
                results.append((f"{fig.label} ({fig.user}) not slower than stock", fig.p50 <= theirs * 1.05,
                                f"{fig.p50:.1f} / {theirs:.1f} ms"))
                continue
            else:
                target = PROVINCE_TARGETS["clerk_p50_ms" if fig.user == "clerk" else "admin_list_p50_ms"]
            results.append((f"2M {fig.label} ({fig.user}) p50 <= {target:.0f} ms", fig.p50 <= target,
                            f"{fig.p50:.1f} ms"))
        results.append(last_rows_check(app, clients["province"], deep))
        print()
        for label, ok, detail in results:
            print(f"{'PASS' if ok else 'FAIL'}  {label:<58} {detail}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return results
    finally:
        if not keep:
            _admin_database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    people = int(os.environ.get("BENCH_PEOPLE", "100000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "30"))
    do_profile = os.environ.get("BENCH_PROFILE") == "1"
    results = run(build(people), repeat, do_profile)
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if pg_url:
        results += run(build(people, url=pg_url), repeat, do_profile)
    if os.environ.get("BENCH_PROVINCE", "1") == "1":
        if _pg_available():
            results += run_province(repeat)
        else:
            print("\nno PostgreSQL at BENCH_PG_SERVER: the province (2 M people) figures were skipped")
    failed = [name for name, ok, _ in results if not ok]
    print(f"\nbench_admin_list: {len(results) - len(failed)} PASS, {len(failed)} FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
