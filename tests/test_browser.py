"""Real browser: Debian's Chromium, driven by Playwright, against the app served on a free local port.

The app runs with CSRF protection on (real forms, real tokens) on a temporary SQLite file filled with
the demo (``admin_app.demo.seed_demo``) or, if that is not available, the test world's regions and
accounts. The test never downloads a browser (no ``playwright install``): without /usr/bin/chromium it
is skipped, except under CI=true where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from admin_app import create_app
from admin_app.extensions import db as _db
from models import Person, Region

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "yibuyizhan-demo"  # noqa: S105

pytestmark = pytest.mark.browser


def _require_browser():
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


def _seed(session) -> None:
    try:
        from admin_app.demo import seed_demo
    except ImportError:
        seed_demo = None
    if seed_demo is not None:
        seed_demo(session)
    else:  # the same regions and accounts as the conftest world
        from tests.conftest import make_region, make_user

        city = make_region("431300000000", "娄底市", "city")
        louxing = make_region("431302000000", "娄星区", "county", city)
        shanshan = make_region("431302100000", "杉山镇", "township", louxing)
        make_region("431302005000", "大科街道", "township", louxing)
        make_user("shanshan", "clerk", shanshan)
    session.commit()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """Base URL of the app served by werkzeug in a background thread, on a temp-file SQLite DB."""
    _require_browser()
    db_file = tmp_path_factory.mktemp("browser") / "browser.db"
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
        "WTF_CSRF_ENABLED": True,
        "SECRET_KEY": "browser-test-secret",
    })
    assert app.config["WTF_CSRF_ENABLED"] is True
    with app.app_context():
        _db.create_all()
        _seed(_db.session)
        _db.session.remove()
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


@pytest.fixture()
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


def choose(page, field: str, label: str) -> None:
    """Pick ``label`` in the Select2 (3.5) drop-down that Flask-Admin puts over ``select[name=field]``."""
    page.click(f"#s2id_{field} a.select2-choice")
    drop = page.locator("#select2-drop")
    drop.locator("input.select2-input").fill(label)
    drop.locator(".select2-result-label", has_text=label).filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first.click()


def test_clerk_creates_a_person_and_finds_it_by_pinyin_initials(live_server, page, tmp_path):
    from playwright.sync_api import expect

    app, base = live_server
    with app.app_context():
        shanshan_id = _db.session.query(Region.id).filter_by(code="431302100000").scalar()
        assert _db.session.query(Person).filter_by(name="周洪杰").count() == 0

    # Log in through the real form (it carries a CSRF token).
    page.goto(f"{base}/login")
    assert page.locator("input[name=csrf_token]").count() == 1
    page.fill("input[name=username]", "shanshan")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/**")

    # 人员 → 人员 in the menu, then the create tab (Flask-Admin labels it 创建).
    page.locator("nav a.dropdown-toggle", has_text="人员").first.click()
    page.locator("nav .dropdown-menu a", has_text="人员").first.click()
    page.wait_for_url("**/admin/person/**")
    page.locator("a[href*='/admin/person/new/']").first.click()
    page.wait_for_url("**/admin/person/new/**")

    page.fill("input[name=name]", "周洪杰")
    choose(page, "region", "杉山镇")
    choose(page, "gender", "男")
    assert page.locator("select[name=region]").input_value() == str(shanshan_id)
    page.screenshot(path=str(tmp_path / "person-form.png"), full_page=True)
    page.locator("form input[type=submit], form button[type=submit]").first.click()
    page.wait_for_url("**/admin/person/**")
    assert "/new/" not in page.url, page.content()[:2000]

    with app.app_context():
        saved = _db.session.query(Person).filter_by(name="周洪杰").one()
        assert saved.region_id == shanshan_id
        assert saved.name_initials == "zhj"

    # The list's search box finds the new person by the initials of the pinyin.
    search = page.locator("input[type=text][name=search]")
    search.fill("zhj")
    search.press("Enter")
    page.wait_for_url("**search=zhj**")
    table = page.locator("table.model-list")
    expect(table).to_contain_text("周洪杰")
    shot = tmp_path / "person-search.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # And a search that matches nobody does not show the person.
    search = page.locator("input[type=text][name=search]")
    search.fill("qqq")
    search.press("Enter")
    page.wait_for_url("**search=qqq**")
    assert "周洪杰" not in page.locator("body").inner_text()
