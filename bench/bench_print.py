"""Printing benchmark: one A3 wall chart (steady state and cold) and the whole of 娄底 as one PDF.

Builds its own database (SQLite file in a temp dir): the 89 township-level units of 娄底 from
tests/fixtures/regions-hunan.csv (4313* rows; synthesised if the file is missing), each with a
demo-like merged office (9 posts with parent edges, a concurrent holder, a vacant post, template duties,
adjustments, a 12-month plan). Prints figures and the targets next to them; also the stock alternatives
(nested-flexbox tree; one process, one document) and the ratios.

    .venv/bin/python -m bench print
"""

from __future__ import annotations

import csv
import datetime
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUNAN_CSV = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "regions-hunan.csv"
REGIONS_CSV = Path(os.environ.get("BENCH_REGIONS_CSV", HUNAN_CSV))
ROOT = Path(__file__).resolve().parent.parent
STEADY_RUNS = int(os.environ.get("BENCH_PRINT_RUNS", "7"))

POSTS = [  # title, side, parent index, holder index (None = vacant), concurrent
    ("部长", "armed_forces", None, 0, False), ("副部长", "armed_forces", 0, 2, True),
    ("站长", "station", 0, 2, False), ("民兵整组干事", "armed_forces", 1, 3, False),
    ("征兵工作干事", "armed_forces", 1, None, False), ("国防教育干事", "armed_forces", 1, 4, False),
    ("优抚安置干事", "station", 2, 5, False), ("就业创业干事", "station", 2, 6, False),
    ("权益维护干事", "station", 2, 7, False)]
DUTIES = [("部长", "主持人民武装部全面工作,负责党管武装、民兵组织建设、国防动员和兵役工作的统筹协调", "armed_forces"),
          ("副部长", "协助部长抓好民兵整组、军事训练、武器装备管理和战备值班工作", "armed_forces"),
          ("站长", "主持退役军人服务站日常工作,负责退役军人信息采集、思想政治引导、帮扶援助", "veterans"),
          ("民兵整组干事", "负责基干民兵、普通民兵的编组登记和年度整组点验", "armed_forces"),
          ("征兵工作干事", "负责兵役登记、征兵宣传、体检政审和役前教育", "armed_forces"),
          ("国防教育干事", "负责全民国防教育、国防教育日主题宣传活动", "armed_forces"),
          ("优抚安置干事", "负责优抚对象抚恤补助金的审核发放、伤残等级评定申报", "veterans"),
          ("就业创业干事", "负责组织退役军人参加适应性培训、职业技能培训和专场招聘会", "veterans"),
          ("权益维护干事", "负责退役军人来信来访接待、矛盾纠纷排查化解和法律援助对接", "veterans"),
          ("部长", "安全生产", "non_core")]
PLAN = ["春节走访慰问优抚对象、军烈属", "召开党管武装述职会", "开展民兵整组,完成基干民兵编组", "清明节烈士祭扫活动",
        "兵役登记和征兵宣传", "汛期应急民兵分队集结拉动演练", "八一建军节双拥慰问座谈会", "新兵体检政审",
        "新兵欢送大会;全民国防教育日", "退役士兵接收安置", "民兵军事训练考核", "年度工作总结,评选表彰"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田"
GIVEN = "建国华军平明伟强红英志勇杰峰刚辉磊洪涛斌超波鹏宇浩俊文武德生海林春秀兰芳丽娟霞敏静"


def region_rows() -> list[tuple[str, str, str, str | None]]:
    if REGIONS_CSV.exists():
        with REGIONS_CSV.open(encoding="utf-8") as fh:
            rows = [(r["code"], r["name"], r["level"], r["parent_code"] or None)
                    for r in csv.DictReader(fh) if r["code"].startswith("4313")]
        if sum(1 for r in rows if r[2] == "township") >= 80:
            return rows
    rows = [("431300000000", "娄底市", "city", None)]
    for c in range(5):
        county = f"4313{c + 2:02d}000000"
        rows.append((county, f"县{c + 1}", "county", "431300000000"))
    for t in range(89):
        rows.append((f"4313{t % 5 + 2:02d}{t + 100:03d}000", f"乡镇{t + 1:02d}", "township",
                     f"4313{t % 5 + 2:02d}000000"))
    return rows


def build_database(url: str) -> list[str]:
    """Create the schema and the 娄底 offices; returns the township codes in code order."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from models import (
        AnnualPlan,
        Appointment,
        Base,
        Duty,
        DutyAdjustment,
        DutyTemplateEntry,
        Person,
        PlanItem,
        Post,
        Region,
    )

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    today = datetime.date.today()
    with Session(engine) as s:
        regions: dict[str, Region] = {}
        for code, name, level, parent in sorted(region_rows(), key=lambda r: (len(r[0].rstrip("0")), r[0])):
            region = Region(code=code, name=name, level=level, parent=regions.get(parent or ""))
            region.path = region.compute_path()
            regions[code] = region
            s.add(region)
        duties = []
        for order, (title, name, cat) in enumerate(DUTIES):
            duty = Duty(name=name[:80], category=cat)
            duties.append(duty)
            s.add(DutyTemplateEntry(post_title=title, duty=duty, sort_order=order))
        townships = sorted(c for c, r in regions.items() if r.level == "township")
        for n, code in enumerate(townships):
            township = regions[code]
            people = [Person(name=SURNAMES[(n * 7 + i) % len(SURNAMES)] + GIVEN[(n * 3 + i * 5) % len(GIVEN)]
                             + GIVEN[(n + i * 11) % len(GIVEN)], region=township) for i in range(8)]
            posts: list[Post] = []
            for order, (title, side, parent, holder, concurrent) in enumerate(POSTS):
                post = Post(region=township, title=title, side=side, sort_order=order,
                            parent=posts[parent] if parent is not None else None)
                s.add(post)
                posts.append(post)
                if holder is not None:
                    s.add(Appointment(person=people[holder], post=post, start_on=datetime.date(2023, 5, 1),
                                      concurrent=concurrent))
            local = Duty(name="防汛抢险民兵集结", category="armed_forces", region=township)
            s.add_all([DutyAdjustment(township=township, action="add", duty=local, target_post=posts[3],
                                      reason="汛期任务"),
                       DutyAdjustment(township=township, action="remove", duty=duties[-1], reason="聚焦主责")])
            plan = AnnualPlan(township=township, year=today.year, title="年度大项工作计划")
            for month, title in enumerate(PLAN, start=1):
                plan.items.append(PlanItem(month=month, title=title,
                                           status="done" if month < today.month else "planned"))
            s.add(plan)
        s.commit()
    engine.dispose()
    return townships


def flexbox_tree_html(html: str, data) -> str:
    """The stock alternative: the same page with the tree as nested flexbox instead of SVG + boxes."""
    nodes = {b.post_id: b for b in data.layout.boxes}
    posts = data.township_posts

    def render(pid: int) -> str:
        box = nodes[pid]
        kids = [p for p in posts if p.parent_id == pid]
        holder = "、".join(n for n, _ in box.holders) or "空缺"
        row = (f'<div style="display:flex;justify-content:center;margin-top:24pt">'
               f'{"".join(render(k.id) for k in kids)}</div>') if kids else ""
        return (f'<div style="display:flex;flex-direction:column;align-items:center;margin:0 4pt">'
                f'<div style="border:1.2pt solid #a50f15;border-radius:4pt;padding:4pt 10pt;text-align:center;'
                f'width:{box.w - 20:.0f}pt"><b>{box.title}</b><br>{holder}</div>{row}</div>')

    roots = [p.id for p in posts if p.parent_id is None]
    tree = "".join(render(r) for r in roots)
    start = html.index('<div class="tree"')
    end = min(i for i in (html.find('<div class="lower"'), html.find('<div class="stack"')) if i > 0)
    return html[:start] + f'<div style="height:{data.tree_h:.0f}pt;display:flex;justify-content:center">{tree}</div>' + html[end:]


def _kib(n: int) -> str:
    return f"{n / 1024:.0f} KB"


def main() -> None:
    from pypdf import PdfReader

    from admin_app import create_app
    from admin_app.extensions import db
    from printables.batch import render_batch
    from printables.data import chart_data, township_posts
    from printables.documents import org_chart_html
    from printables.render import render_pdf

    tmp = tempfile.mkdtemp(prefix="bench_print_")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs inflate times)")
    url = os.environ.get("BENCH_PRINT_DATABASE_URL") or f"sqlite:///{tmp}/print.sqlite"
    started = time.perf_counter()
    codes = build_database(url)
    print(f"database: {len(codes)} townships built in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
    config = {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "bench", "SERVER_NAME": "localhost"}
    app = create_app(config)
    pilot = "431302100000" if "431302100000" in codes else codes[0]
    with app.app_context():
        from sqlalchemy import select

        from models import Region

        township = db.session.scalars(select(Region).where(Region.code == pilot)).one()
        ids = list(db.session.scalars(select(Region.id).where(Region.code.in_(codes)).order_by(Region.code)))

        def one_chart() -> bytes:
            return render_pdf(org_chart_html([chart_data(db.session, township)]))

        one_chart()  # warm-up: imports, font configuration
        times, cpu, size = [], [], 0
        for _ in range(STEADY_RUNS):
            t, c = time.perf_counter(), time.process_time()
            pdf = one_chart()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            size = len(pdf)
        steady = statistics.median(times)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        print(f"A3 wall chart ({township.name}), steady state: median {steady:.3f} s of {STEADY_RUNS} "
              f"(min {min(times):.3f}, max {max(times):.3f}; CPU median {statistics.median(cpu):.3f} s), "
              f"{_kib(size)}, {pages} page(s)  "
              f"[target ≤ 1.0 s, ≤ 400 KB] {'OK' if steady <= 1.0 and size <= 400 * 1024 else 'MISSED'}")

        data = chart_data(db.session, township)
        data.township_posts = township_posts(db.session, township)
        flex_html = flexbox_tree_html(org_chart_html([data]), data)
        ftimes = []
        for _ in range(1):  # one run: nested flex is very slow in WeasyPrint (issue #1166)
            t = time.perf_counter()
            fpdf = render_pdf(flex_html)
            ftimes.append(time.perf_counter() - t)
        flex = statistics.median(ftimes)
        print(f"  stock alternative, nested-flexbox tree (one run): {flex:.3f} s, {_kib(len(fpdf))}; "
              f"SVG+boxes is {flex / steady:.2f}× faster")

    cold_code = (
        "import time; t=time.perf_counter()\n"
        "from admin_app import create_app\n"
        "from admin_app.extensions import db\n"
        "from sqlalchemy import select\n"
        "from models import Region\n"
        "from printables.documents import org_chart_for\n"
        "from printables.render import render_pdf\n"
        f"app = create_app({config!r})\n"
        "with app.app_context():\n"
        f"    r = db.session.scalars(select(Region).where(Region.code == {pilot!r})).one()\n"
        "    pdf = render_pdf(org_chart_for(db.session, r))\n"
        "print(len(pdf), time.perf_counter() - t)\n")
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", cold_code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout.split()
    cold = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cold_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"A3 wall chart, cold in a fresh process: {cold:.2f} s wall, {cold_cpu:.2f} s CPU "
          f"(interpreter start to PDF; {float(out[1]):.2f} s inside)  [target ≤ 3 s] {'OK' if cold <= 3.0 else 'MISSED'}")

    stats: dict = {}
    t = time.perf_counter()
    pdf = render_batch(ids, config=config, workers=2, stats=stats, app=app)
    batch = time.perf_counter() - t
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    rss = stats["worker_peak_rss_kib"] / 1024
    ok = batch <= 60 and len(pdf) <= 3 * 1024 * 1024 and rss <= 600 and pages == len(ids)
    print(f"娄底 city batch, 2 workers ({stats['chunks']} chunks merged with pypdf): {batch:.1f} s, "
          f"{len(pdf) / 1024 / 1024:.2f} MB, {pages} pages, peak RSS per worker {rss:.0f} MB  "
          f"[target ≤ 60 s, ≤ 3 MB, ≤ 600 MB] {'OK' if ok else 'MISSED'}")
    Path(tmp, "loudi.pdf").write_bytes(pdf)

    stats2: dict = {}
    t = time.perf_counter()
    pdf2 = render_batch(ids, config=config, workers=2, chunk_size=-(-len(ids) // 2), stats=stats2, app=app)
    batch2 = time.perf_counter() - t
    print(f"  variant, 2 workers × 1 chunk each: {batch2:.1f} s, {len(pdf2) / 1024 / 1024:.2f} MB, "
          f"peak RSS per worker {stats2['worker_peak_rss_kib'] / 1024:.0f} MB")

    stats1: dict = {}
    t = time.perf_counter()
    pdf1 = _single_process(ids, config, stats1)
    single = time.perf_counter() - t
    stats3: dict = {}
    t = time.perf_counter()
    pdf3 = render_batch(ids, config=config, workers=2, stats=stats3)
    fresh = time.perf_counter() - t
    print(f"  variant, 2 fresh (spawned) workers instead of forked: {fresh:.1f} s, {len(pdf3) / 1024 / 1024:.2f} MB")
    print(f"  stock alternative, one process, one document: {single:.1f} s, {len(pdf1) / 1024 / 1024:.2f} MB, "
          f"peak RSS {stats1['worker_peak_rss_kib'] / 1024:.0f} MB; 2 workers are {single / batch:.2f}× faster, "
          f"file size ratio {len(pdf) / len(pdf1):.2f}")
    print(f"output kept in {tmp}")


def _single_process(ids: list[int], config: dict, stats: dict) -> bytes:
    """The whole city in one worker process as one WeasyPrint document (fonts embedded once)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from printables.batch import _init_worker, _render_chunk

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("forkserver"), initializer=_init_worker,
                             initargs=(config,)) as pool:
        data, peak = pool.submit(_render_chunk, ids).result()
    stats["worker_peak_rss_kib"] = peak
    return data


if __name__ == "__main__":
    main()
