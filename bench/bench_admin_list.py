"""Benchmark of the generated person list (/admin/person/) on a city-scale database.

Prints median and p95 of the list page, a Chinese name search and a pinyin-initials search for a city
admin and a township clerk, the SQL statements per request (counted with a ``before_cursor_execute``
listener) and the same list page under a stock ``flask_admin.contrib.sqla.ModelView`` of the same model,
registered on a second Admin instance in the same app; then PASS/FAIL per target.

Run ``python -m bench.bench_admin_list`` (or ``make bench``). Environment:
``BENCH_PEOPLE`` (default 100000), ``BENCH_REPEAT`` (timed requests per figure, default 30),
``BENCH_DATABASE_URL`` (also run on that PostgreSQL database), ``BENCH_PROFILE=1`` (print a cProfile
of one clerk and one city list request).
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


def main() -> int:
    people = int(os.environ.get("BENCH_PEOPLE", "100000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "30"))
    do_profile = os.environ.get("BENCH_PROFILE") == "1"
    results = run(build(people), repeat, do_profile)
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if pg_url:
        results += run(build(people, url=pg_url), repeat, do_profile)
    failed = [name for name, ok, _ in results if not ok]
    print(f"\nbench_admin_list: {len(results) - len(failed)} PASS, {len(failed)} FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
