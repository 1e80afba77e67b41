"""Real browser: Debian's Chromium, driven by Playwright, against the app served on a free local port.

The app runs with CSRF protection on (real forms, real tokens) on a temporary SQLite file holding the
娄底 demo (``admin_app.demo.seed_demo``): seeded once per session, each module serves its own copy. One
Chromium serves the whole session; each test opens its own browser context. The tests never download a
browser (no ``playwright install``): without /usr/bin/chromium they are skipped, except under CI=true
where a missing browser is a failure.

Every page a journey opens is watched (``Watch``): a console error, a Content-Security-Policy violation, an
uncaught exception or a failed sub-request fails the test. Each journey ends with a screenshot in
``tests/artifacts/`` (git-ignored; CI keeps it as an artefact). The crawler over every screen of every role
is ``tests/test_browser_crawl.py``.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from admin_app import create_app
from admin_app.extensions import db as _db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "yibuyizhan-demo"  # noqa: S105
ARTIFACTS = Path(__file__).parent / "artifacts"
WIDE, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
SHANSHAN = "431302100000"  # 杉山镇 (the clerk's township)
LOUXING = "431302000000"  # 娄星区 (the county admin's county)

pytestmark = pytest.mark.browser


def require_browser():
    """Skip without a browser, but fail in CI, where a skip would hide that nothing was tested."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)


def _compile_catalogue() -> None:
    """The English catalogue as ``make translations`` compiles it, when the .mo is missing or stale."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = Path(__file__).parents[1] / "admin_app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as src:
        catalog = read_po(src, locale="en")
    partial = mo.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as out:
        write_mo(out, catalog)
    os.replace(partial, mo)


def browser_app(database: Path, jobs_dir: Path):
    """The app as the browser tests serve it: CSRF on, on the SQLite file ``database``."""
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "WTF_CSRF_ENABLED": True,
        "SECRET_KEY": "browser-test-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # the demo accounts hash fast
        "JOBS_DIR": str(jobs_dir),
        # Chromium keeps the static files for the test instead of asking for every one again on every
        # page (two dozen 304s a page, 40 % of a crawl's time); pages themselves stay no-store.
        "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    })
    assert app.config["WTF_CSRF_ENABLED"] is True
    return app


def seed_demo_file(database: Path) -> None:
    """A SQLite file holding the 娄底 demo (``conftest.browser_demo_file`` makes it once per session)."""
    from admin_app.actor import acting_as, system_actor
    from admin_app.demo import seed_demo

    app = browser_app(database, database.parent / "jobs")
    with app.app_context():
        _db.create_all()
        with acting_as(system_actor("seed-demo")):
            seed_demo(_db.session)
            _db.session.commit()
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, browser_demo_file):
    """(app, base URL) of the app served by werkzeug in a background thread, on a temp-file SQLite DB
    holding the demo: each module starts from its own copy of the demo seeded once per session."""
    require_browser()
    _compile_catalogue()
    tmp = tmp_path_factory.mktemp("browser")
    shutil.copyfile(browser_demo_file, tmp / "browser.db")
    app = browser_app(tmp / "browser.db", tmp / "jobs")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            _db.engine.dispose()


def launch_chromium(pw):
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="module")
def browser(live_server, chromium_session):
    """The session's one Chromium (``conftest.chromium_session``); every test opens its own context."""
    return chromium_session


CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' @' + e.lineNumber);
});
"""


class Watch:
    """Everything that went wrong in a browser context: console errors, CSP violations, uncaught
    exceptions, failed sub-requests (4xx/5xx of scripts, styles, images, XHR)."""

    def __init__(self, context):
        self.problems: list[str] = []
        context.add_init_script(CSP_PROBE)
        context.on("page", self.attach)

    def attach(self, page) -> None:
        page.on("console", lambda m: self.problems.append(f"console {m.type} on {page.url}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught on {page.url}: {e}"))
        page.on("response", self._response)

    def _response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"HTTP {response.status} for {response.request.resource_type} {response.url}")

    def check(self, page) -> None:
        """Fail on anything recorded so far (and on CSP violations reported inside the page)."""
        try:
            violations = page.evaluate("window.__cspViolations || []")
        except Exception:  # noqa: BLE001 - a page in the middle of navigating has no window to ask
            violations = []
        problems = self.problems + [f"CSP violation on {page.url}: {v}" for v in violations]
        self.problems = []
        assert not problems, "\n".join(problems)


@pytest.fixture()
def open_as(live_server, browser):
    """``open_as(username, viewport=WIDE) -> (page, watch)``: a fresh browser context logged in through
    the real login form; after the test every context is checked and closed."""
    _app, base = live_server
    opened = []

    def login(username: str, viewport: dict = WIDE):
        context = browser.new_context(locale="zh-CN", viewport=viewport, accept_downloads=True)
        context.set_default_timeout(15_000)
        watch = Watch(context)
        page = context.new_page()
        page.goto(f"{base}/login")
        assert page.locator("input[name=csrf_token]").count() == 1
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/**")
        opened.append((context, watch, page))
        return page, watch

    yield login
    try:
        for _context, watch, page in opened:
            watch.check(page)
    finally:
        for context, _watch, _page in opened:
            context.close()


def shot(page, name: str) -> Path:
    """The journey's end as a full-page screenshot under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def menu(page, category: str, item: str) -> None:
    """Open ``item`` under ``category`` in the top menu (the navbar is collapsed on a phone)."""
    toggler = page.locator("button.navbar-toggler")
    if toggler.is_visible():
        toggler.click()
    page.locator("nav a.dropdown-toggle", has_text=category).first.click()
    page.locator("nav .dropdown-menu.show a", has_text=re.compile(rf"^\s*{re.escape(item)}\s*$")).first.click()
    page.wait_for_load_state("load")


def choose(page, field: str, label: str) -> None:
    """Pick ``label`` in the Select2 (3.5) drop-down that Flask-Admin puts over ``select[name=field]``."""
    page.click(f"#s2id_{field} a.select2-choice")
    drop = page.locator("#select2-drop")
    drop.locator("input.select2-input").fill(label)
    drop.locator(".select2-result-label", has_text=label).filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first.click()


def choose_ajax(page, field: str, typed: str, label: str) -> None:
    """Pick ``label`` in an ajax look-up (person fields) after typing ``typed``."""
    page.click(f"#s2id_{field} a.select2-choice")
    drop = page.locator("#select2-drop")
    drop.locator("input.select2-input").fill(typed)
    drop.locator(".select2-result-label", has_text=label).first.click()


def flash_text(page) -> str:
    return " ".join(page.locator(".alert").all_inner_texts())


def _search(page, text: str) -> None:
    search = page.locator("input[type=text][name=search]")
    search.fill(text)
    search.press("Enter")
    page.wait_for_url(f"**search={text}**")


# -- journeys ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440", "390"])
def test_clerk_registers_a_veteran_and_finds_him_by_initials(live_server, open_as, viewport):
    from playwright.sync_api import expect

    app, _base = live_server
    name = "周洪杰" if viewport is WIDE else "曾宪伟"
    initials = "zhj" if viewport is WIDE else "zxw"
    page, watch = open_as("shanshan", viewport)

    menu(page, "人员", "人员")
    page.wait_for_url("**/admin/person/**")
    page.locator("a[href*='/admin/person/new/']").first.click()
    page.wait_for_url("**/admin/person/new/**")
    assert "Veteran" not in page.locator("form.admin-form").inner_text()

    page.fill("input[name=name]", name)
    choose_ajax(page, "region", "杉山", "杉山镇")  # a lookup in scope, typed (views/base.py ScopedRegionLoader)
    choose(page, "gender", "男")
    # The veteran part of the form (one-to-one inline), labelled from the schema.
    expect(page.locator("label[for=veteran_profile]")).to_have_text(re.compile(r"^\s*退役军人\s*$"))
    page.fill("input[name='veteran_profile-enlisted_on']", "2012-09-01")
    page.keyboard.press("Escape")
    page.fill("input[name='veteran_profile-discharged_on']", "2017-09-01")
    page.keyboard.press("Escape")
    page.locator("form.admin-form input[type=submit]").first.click()
    page.wait_for_url("**/admin/person/**")
    assert "/new/" not in page.url, flash_text(page)

    from models import Person, VeteranProfile

    with app.app_context():
        saved = _db.session.query(Person).filter_by(name=name).one()
        assert saved.name_initials.startswith(initials[:1])
        assert _db.session.query(VeteranProfile).filter_by(person_id=saved.id).count() == 1

    _search(page, initials)
    table = page.locator("table.model-list")
    expect(table).to_contain_text(name)
    if viewport is PHONE:
        # A card per row: the name is on one line (not one character per line).
        cell = page.locator("table.model-list td.col-name", has_text=name).first
        box = cell.bounding_box()
        assert box["height"] < 40, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    watch.check(page)
    shot(page, f"clerk-registers-veteran-{viewport['width']}")

    _search(page, "qqqxx")
    assert name not in page.locator("body").inner_text()


def test_clerk_adjusts_a_duty_and_prints_the_chart(live_server, open_as):
    from playwright.sync_api import expect

    _app, base = live_server
    page, watch = open_as("shanshan")
    menu(page, "职责与计划", "职责分工")
    page.wait_for_url(f"**/admin/duties/{SHANSHAN}/**")
    form = page.locator("form#adjust-form")
    # Only the fields of the chosen kind are shown.
    form.locator("select[name=action]").select_option("add")
    expect(form.locator("input[name=duty_name]")).to_be_visible()
    expect(form.locator("select[name=line]")).to_be_hidden()
    form.locator("select[name=action]").select_option("move")
    expect(form.locator("select[name=line]")).to_be_visible()
    expect(form.locator("input[name=duty_name]")).to_be_hidden()
    expect(form.locator("input[name=new_wording]")).to_be_hidden()

    # A refused adjustment (no reason) shows its message next to the form, scrolled into view.
    form.locator("select[name=line]").select_option(index=1)
    form.locator("select[name=target_post]").select_option(index=1)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("#adjust"), page.url
    error = page.locator("#adjust-form .invalid-feedback").first
    expect(error).to_be_visible()
    expect(error).to_be_in_viewport()
    watch.problems = [p for p in watch.problems if "status of 400" not in p]  # the refusal itself

    form = page.locator("form#adjust-form")
    form.locator("textarea[name=reason]").fill("本镇由副部长分管此项工作")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    expect(page.locator(".alert-success")).to_contain_text("已保存职责调整")

    response = page.request.get(f"{base}/print/{SHANSHAN}/org-chart.pdf")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.body()[:5] == b"%PDF-"
    watch.check(page)
    shot(page, "clerk-adjusts-duty-1440")


def test_clerk_updates_a_plan_item_with_a_note(live_server, open_as):
    from playwright.sync_api import expect

    page, watch = open_as("shanshan")
    menu(page, "职责与计划", "年度计划进度")
    row = page.locator("tr", has_text="杉山镇")
    if row.locator("button", has_text="按模板生成").count():
        row.locator("button", has_text="按模板生成").click()
    else:
        row.locator("a", has_text="查看").click()
    page.wait_for_url(f"**/admin/plans/{SHANSHAN}/**")
    form = page.locator("form.plan-status").first
    form.locator("select[name=status]").select_option("done")
    date = form.locator("input[name=completed_on]")
    assert date.get_attribute("type") == "text"  # one date format: yyyy-mm-dd with the picker
    date.fill(datetime.date.today().isoformat())
    page.keyboard.press("Escape")
    note = "已召开专题会议,形成会议纪要"
    form.locator("[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("table.table-bordered").first).to_contain_text(note)
    watch.check(page)
    shot(page, "clerk-updates-plan-item-1440")


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440", "390"])
def test_clerk_bulk_deletes_two_rows_and_restores_one(live_server, open_as, viewport):
    from playwright.sync_api import expect

    app, base = live_server
    from models import Room

    page, watch = open_as("shanshan", viewport)
    page.goto(f"{base}/admin/room/")
    with app.app_context():
        before = _db.session.query(Room).count()
    boxes = page.locator("input.action-checkbox")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.once("dialog", lambda d: d.accept())
    page.locator("a.dropdown-toggle", has_text="选中的").click()
    page.locator("[data-model-action=delete]").click()
    page.wait_for_load_state("load")
    with app.app_context():
        assert _db.session.query(Room).count() == before - 2

    # 变更记录: the newest deletion of a room, restored from its page.
    page.goto(f"{base}/admin/audit_log/?sort=0&desc=1")
    details = page.locator("table.model-list tr", has_text="删除").first.locator("a .fa-eye").first
    details.click()
    page.wait_for_url("**/admin/audit_log/details/**")
    page.locator("button", has_text="恢复已删除的记录").click()
    page.wait_for_load_state("load")
    with app.app_context():
        assert _db.session.query(Room).count() == before - 1
    expect(page.locator(".alert").first).to_be_visible()
    watch.check(page)
    shot(page, f"clerk-bulk-delete-restore-{viewport['width']}")


def test_county_admin_compares_townships_and_prints_the_county_charts(live_server, open_as):
    from playwright.sync_api import expect

    page, watch = open_as("louxing")
    menu(page, "职责与计划", "职责分工")
    expect(page.locator("h4", has_text="职责分工总览")).to_be_visible()
    ranking = page.locator("table").first
    assert ranking.locator("tbody tr").count() >= 2  # the county's townships side by side

    menu(page, "打印", "打印中心")
    page.locator("a[href$='/org-charts.pdf']", has_text="全部乡镇架构图").first.click()
    expect(page.locator(".job-confirm")).to_contain_text("娄星区合署办公架构图")  # a GET only asks
    page.locator("button.job-start").click()
    page.wait_for_url("**/admin/jobs/**")
    link = page.locator("a", has_text=re.compile("下载")).first
    expect(link).to_be_visible(timeout=120_000)
    href = link.get_attribute("href")
    response = page.request.get(href if href.startswith("http") else page.url.split("/admin")[0] + href)
    assert response.status == 200 and response.body()[:5] == b"%PDF-"
    watch.check(page)
    shot(page, "county-prints-charts-1440")


def test_county_admin_gets_the_county_statistics_from_my_jobs(live_server, open_as):
    from playwright.sync_api import expect

    _app, base = live_server
    page, watch = open_as("louxing")
    page.goto(base + "/admin/stats/?region=431302000000")
    button = page.locator("a.stats-export")
    assert "我的任务" in (button.get_attribute("title") or "")
    button.click()
    expect(page.locator(".job-confirm")).to_contain_text("年度统计报表(XLSX)")  # a GET only asks
    page.locator("button.job-start").click()
    page.wait_for_url("**/admin/jobs/**")
    link = page.locator("a.job-download")
    expect(link).to_be_visible(timeout=60_000)
    response = page.request.get(base + link.get_attribute("href"))
    assert response.status == 200 and response.body()[:2] == b"PK"  # an XLSX (a zip)
    watch.check(page)


def test_clerk_runs_a_big_export_and_a_big_import_as_jobs(live_server, open_as, monkeypatch, tmp_path):
    """The list's export and the import page, above their thresholds (made small here): the export asks
    first (the confirmation page), the import goes to 我的任务; both results download from there."""
    from playwright.sync_api import expect
    from test_import_job import person_rows, xlsx

    from models import Person

    app, base = live_server
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 3)
    monkeypatch.setitem(app.config, "IMPORT_SYNC_ROWS", 3)
    page, watch = open_as("shanshan")

    menu(page, "人员", "人员")
    page.wait_for_url("**/admin/person/**")
    page.locator("a.dropdown-toggle", has_text="导出").first.click()
    page.locator("a.dropdown-item[href*='/export/csv']").click()
    expect(page.locator(".job-confirm")).to_contain_text("约")  # a GET only asks, with the size
    page.locator("button.job-start").click()
    page.wait_for_url("**/admin/jobs/**")
    link = page.locator("a.job-download")
    expect(link).to_be_visible(timeout=60_000)
    response = page.request.get(base + link.get_attribute("href"))
    assert response.status == 200 and "姓名" in response.body().decode("utf-8-sig")

    workbook = tmp_path / "people.xlsx"
    workbook.write_bytes(xlsx(person_rows(5)))
    page.goto(base + "/admin/person/import/")
    page.set_input_files("input[type=file][name=file]", str(workbook))
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    page.wait_for_url("**/admin/jobs/**")
    expect(page.locator("a.job-download")).to_be_visible(timeout=60_000)
    expect(page.locator("body")).to_contain_text("已导入 5 条记录")
    with app.app_context():
        assert _db.session.query(Person).filter(Person.name.like("导入%")).count() == 5
    watch.check(page)


def test_viewer_finds_no_write_control(live_server, open_as):
    _app, base = live_server
    page, watch = open_as("viewer")
    for path in ("/admin/person/", "/admin/post/", "/admin/room/", "/admin/duties/", "/admin/plans/"):
        page.goto(base + path)
        assert page.locator("a[href*='/new/'], a[href*='/edit/'], button.row-delete, [data-model-action], "
                            "a[href*='/import/'], form[method=post] button[type=submit]:not(#logout-form *)"
                            ).count() == 0, path
    watch.check(page)
    shot(page, "viewer-read-only-1440")
