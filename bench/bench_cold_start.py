"""Cold start: the first response of a fresh process and a cold one-chart CLI print, beside a cold
reference WeasyPrint page (a bare ``import weasyprint`` + one A3 page of Chinese text, no app at all).

Every figure is a new Python process (nothing cached between runs but the OS page cache). The three
kinds run round-robin, BENCH_COLD_RUNS rounds (default 9), so a burst of load from other jobs hits them
alike; each figure is the median (and the best) of its runs, wall time and CPU time (user + sys of the
process and its children), which other jobs disturb less than wall time. Ratios are to the reference
page of the same run. A last in-process run splits the print into its steps (CPU seconds).
The database is the 娄底 demo as released at revision 0001 (tests/fixtures/demo_at_0001.sql) upgraded
to head, in a temp SQLite file.

    .venv/bin/python -m bench cold
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "demo_at_0001.sql"
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "9"))
TOWNSHIP = "431302100000"  # 杉山镇
PRINT_TARGET = 1.5  # seconds, cold one-chart print (issue 12)
LAZY = ("openpyxl", "alembic", "pypinyin", "huey")  # must not load unless a request or command needs them
MARK = "@@cold@@"

FIRST_RESPONSE = f"""
import json, sys, time
t0 = time.perf_counter()
from admin_app import create_app
app = create_app()
t1 = time.perf_counter()
response = app.test_client().get("/login")
t2 = time.perf_counter()
assert response.status_code == 200, response.status_code
print({MARK!r} + json.dumps({{"create_app": t1 - t0, "request": t2 - t1,
                               "loaded": [m for m in {LAZY!r} if m in sys.modules],
                               "screens": "flask_admin.contrib.sqla" in sys.modules}}))
"""

# The steps of the print command (printables/cli.py → batch.render_charts → render.render_pdf), timed.
STEPS = f"""
import json, resource, sys
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
steps, last = {{}}, cpu()
def step(name):
    global last
    now = cpu(); steps[name] = now - last; last = now
import flask.cli
step("import Flask and its command line")
from admin_app import create_app
app = create_app(screens=False)
step("create_app (SQLAlchemy, models, extensions, print routes)")
from sqlalchemy import select
from admin_app.extensions import db
from models import Region
with app.app_context():
    region = db.session.scalars(select(Region).where(Region.code == {TOWNSHIP!r})).one()
    step("first query (SQLAlchemy configures the mappers)")
    from printables.data import chart_data
    from printables.documents import org_chart_html
    html = org_chart_html([chart_data(db.session, region)])
    step("chart data and HTML")
    from printables import render
    render.weasyprint()
    step("import WeasyPrint")
    render.check_environment()
    step("font and subsetter check (fc-list)")
    docs = render.render_documents([html])
    step("layout")
    pdf = docs[0].write_pdf()
    step("PDF (font subsetting)")
print({MARK!r} + json.dumps(steps))
"""

PRINT = f"""
import atexit, json, sys
atexit.register(lambda: print({MARK!r} + json.dumps({{"loaded": [m for m in {LAZY!r} if m in sys.modules],
                                                      "screens": "flask_admin.contrib.sqla" in sys.modules}})))
from flask.cli import main
sys.argv = ["flask", "--app", "admin_app", "print", "org-chart", "--region", {TOWNSHIP!r}, "--out", sys.argv[1]]
main()
"""

REFERENCE = """
import sys, weasyprint
rows = "".join(f"<tr><td>{i}</td><td>民兵整组干事</td><td>负责基干民兵、普通民兵的编组登记和年度整组点验</td></tr>"
               for i in range(24))
html = ('<html lang="zh-CN"><style>@page { size: A3 landscape; margin: 15mm } '
        'body { font-family: "Noto Sans CJK SC" } td { border: 1px solid #333; padding: 3pt }</style>'
        '<h1>杉山镇人民武装部 · 退役军人服务站 合署办公架构图</h1><table>' + rows + '</table></html>')
pdf = weasyprint.HTML(string=html).write_pdf()
assert pdf.startswith(b"%PDF")
"""


def build_database(tmp: Path) -> dict[str, str]:
    """The demo at 0001 upgraded to head in a temp SQLite file; returns the environment of the runs."""
    env = dict(os.environ, APP_ENV="production", DATABASE_URL=f"sqlite:///{tmp / 'cold.sqlite'}",
               SECRET_KEY="bench-cold-start-" + "0" * 32, FLASK_APP="admin_app")
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade", "0001"], env=env, cwd=ROOT, check=True, capture_output=True)
    with sqlite3.connect(tmp / "cold.sqlite") as conn:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    return env


def compile_project() -> None:
    """Byte-compile the app's own packages, as an installed app has them (pip compiles the libraries at
    install; ``make run`` and ``make bench`` compile the project). Without it, where PYTHONDONTWRITEBYTECODE
    is set, every start compiles the app's modules again (~0.1 s CPU)."""
    import compileall

    for package in ("admin_app", "models", "views", "printables"):
        compileall.compile_dir(ROOT / package, quiet=1)


def run(code: str, env: dict[str, str], *args: str) -> tuple[float, float, dict]:
    """Wall and CPU seconds of one fresh process running ``code``, and the JSON it reported."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"cold run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = {}
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith(MARK):
            report = json.loads(line[len(MARK):])
    return wall, cpu, report


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs inflate wall time)")
    with tempfile.TemporaryDirectory(prefix="bench_cold_") as tmp_name:
        tmp = Path(tmp_name)
        env = build_database(tmp)
        out = tmp / "one.pdf"
        compile_project()
        run(REFERENCE, env)  # warm the OS page cache (fonts, libraries) once; every figure below is cold Python
        kinds = {"reference": (REFERENCE,), "web": (FIRST_RESPONSE,), "print": (PRINT, str(out))}
        runs: dict[str, list] = {kind: [] for kind in kinds}
        for _ in range(RUNS):  # round-robin: a burst of load hits every kind alike
            for kind, (code, *args) in kinds.items():
                runs[kind].append(run(code, env, *args))
        assert out.read_bytes().startswith(b"%PDF")
        wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
        best = {k: min(r[0] for r in v) for k, v in runs.items()}

        def figure(kind: str) -> str:
            ratio = "" if kind == "reference" else (f"; {wall[kind] / wall['reference']:.2f}× the reference "
                                                    f"page's wall, {cpu[kind] / cpu['reference']:.2f}× its CPU")
            return (f"{wall[kind]:.2f} s wall (best {best[kind]:.2f}), {cpu[kind]:.2f} s CPU, "
                    f"median of {RUNS}{ratio}")

        print(f"cold reference WeasyPrint page (import + one A3 page): {figure('reference')}")
        report = runs["web"][-1][2]
        print(f"first response of a fresh process (GET /login): {figure('web')} (create_app "
              f"{report['create_app']:.2f} s, the request {report['request']:.2f} s); Flask-Admin screens "
              f"built: {'yes' if report['screens'] else 'NO'}; lazily loaded modules imported: "
              f"{', '.join(report['loaded']) or 'none'}")
        report = runs["print"][-1][2]
        verdict = "OK" if wall["print"] <= PRINT_TARGET else "MISSED"
        print(f"cold one-chart print (flask print org-chart --region {TOWNSHIP}): {figure('print')}; "
              f"Flask-Admin screens built: {'yes' if report['screens'] else 'no'}; lazily loaded modules "
              f"imported: {', '.join(report['loaded']) or 'none'}  [target ≤ {PRINT_TARGET} s] {verdict}")
        if verdict == "MISSED" and cpu["print"] <= PRINT_TARGET:
            print(f"  (CPU {cpu['print']:.2f} s is within the target: the wall time waited for other jobs; "
                  f"load average now {os.getloadavg()[0]:.1f})")

        steps = run(STEPS, env)[2]
        bare = statistics.median(run("pass", env)[1] for _ in range(3))
        print(f"  where a cold print's CPU goes (one in-process run, {sum(steps.values()):.2f} s; a bare Python "
              f"start and exit: {bare:.2f} s; the app's own exit is not in these steps):")
        for name, seconds in steps.items():
            print(f"    {seconds:5.2f} s  {name}")

        for module in LAZY:
            code = f"import time, flask, sqlalchemy.orm; t = time.perf_counter(); import {module}; " \
                   f"print({MARK!r} + str(time.perf_counter() - t))"
            if module == "pypinyin":
                code = code.replace(f"import {module};", "from pypinyin import lazy_pinyin; lazy_pinyin('曾');")
            cost = statistics.median(float(_stdout(code, env).split(MARK)[1]) for _ in range(3))
            print(f"  {module}: {cost:.2f} s to import, now paid only by the requests and commands that use it")


def _stdout(code: str, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


if __name__ == "__main__":
    main()
