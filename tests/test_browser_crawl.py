"""The crawler: for each role, every screen of the menu, and for every list its create form, the edit form
and the details page of its first row, in Chromium under the real Content-Security-Policy.

On each page it clicks what does not leave the page destructively — the bulk-action menu (选中的 → 删除
with nothing selected must answer with a message, proving the handler runs under the CSP), 添加筛选器 and
each filter, the page size menu, every "添加 …" of inline child forms, select2 drop-downs, date pickers —
and fails on a console error, a CSP violation, an uncaught exception, a 4xx/5xx of a sub-request, a screen
that does not answer 200, or a visible English/developer word from the deny-list in the Chinese UI (text,
tooltips, placeholders). The viewer's pages must carry no write control at all.
"""

from __future__ import annotations

import re

import pytest

from tests.test_browser import WIDE, browser, live_server, open_as  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

# English and developer words that must never reach a Chinese page: Flask-Admin's, select2's and the date
# picker's untranslated strings, Python values, attribute names of the schema (snake_case).
DENY = re.compile(
    r"\b(None|True|False|true|false|Items?|Veteran|Profile|Add|New|Save|Cancel|Delete|Edit|Create|List|Details"
    r"|Search|Filter|Export|Import|Apply|Reset|Failed|record|model|Please|select|matches|found|Loading"
    r"|Searching|Su|Mo|Tu|We|Th|Fr|Sa|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|With selected"
    r"|[a-z]+_[a-z_]+)\b")
ROLES = ["shanshan", "louxing", "city", "viewer"]
SKIP_MENU = ("?lang=", "/logout", "javascript:")
WRITE_CONTROLS = ("a[href*='/new/'], a[href*='/edit/'], button.row-delete, [data-model-action], "
                  "a[href*='/import/'], [data-inline-add]")

TEXTS = """() => {
  const out = [document.body.innerText];
  for (const el of document.querySelectorAll('[title], [placeholder], [data-placeholder]')) {
    if (el.closest('.d-none, [hidden], template')) continue;
    out.push(el.getAttribute('title') || '', el.getAttribute('placeholder') || '',
             el.getAttribute('data-placeholder') || '');
  }
  return out.join('\\n');
}"""


def _denied(page) -> list[str]:
    text = page.evaluate(TEXTS)
    # the account's own name and the data are not UI words: drop e-mail-like and code-like tokens first
    return sorted({m.group(0) for m in DENY.finditer(text)})


class Crawl:
    def __init__(self, page, watch, base: str, role: str):
        self.page, self.watch, self.base, self.role = page, watch, base, role
        self.failures: list[str] = []
        self.seen: set[str] = set()

    def visit(self, url: str) -> bool:
        path = url.replace(self.base, "")
        if path in self.seen:
            return False
        self.seen.add(path)
        response = self.page.goto(self.base + path if path.startswith("/") else url)
        if response is None or response.status != 200:
            self.failures.append(f"{self.role} {path}: HTTP {response.status if response else '?'}")
            return False
        return True

    def check(self, where: str) -> None:
        words = _denied(self.page)
        if words:
            self.failures.append(f"{self.role} {where}: English/developer words {words}")
        if self.role == "viewer":
            writes = self.page.locator(WRITE_CONTROLS).count()
            if writes:
                self.failures.append(f"viewer {where}: {writes} write controls")
        try:
            self.watch.check(self.page)
        except AssertionError as exc:
            self.failures.append(f"{self.role} {where}: {exc}")

    def menu_urls(self) -> list[str]:
        hrefs = self.page.eval_on_selector_all(
            "nav .dropdown-menu a[href], nav a.nav-link[href]", "els => els.map(e => e.getAttribute('href'))")
        return [h for h in dict.fromkeys(hrefs) if h.startswith("/") and not any(s in h for s in SKIP_MENU)]

    # -- what each kind of page offers to click -----------------------------------------------------------
    def exercise_list(self, path: str) -> None:
        page = self.page
        actions = page.locator("[data-model-action]")
        if actions.count():
            messages = []
            page.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))
            page.locator("a.dropdown-toggle", has_text="选中的").click()
            actions.first.click()
            page.wait_for_timeout(100)
            if not messages:  # nothing selected: actions.js must answer (it did not run under the CSP)
                self.failures.append(f"{self.role} {path}: the bulk-action menu did nothing")
            elif DENY.search(messages[0]):
                self.failures.append(f"{self.role} {path}: English dialog {messages[0]!r}")
        toggles = page.locator("a.dropdown-toggle", has_text="添加筛选器")
        if toggles.count():
            filters = page.locator(".field-filters a.filter")
            for i in range(filters.count()):
                toggles.first.click()
                filters.nth(i).click()
            for picker in page.locator("#filter_form input[data-role=datepicker]").all()[:1]:
                picker.click()
                page.keyboard.press("Escape")
        size = page.locator("a.dropdown-toggle", has_text="每页")
        if size.count():
            size.first.click()
            page.keyboard.press("Escape")
        self.check(path + " (menus opened)")

    def exercise_form(self, path: str) -> None:
        page = self.page
        for add in page.locator("[data-inline-add]").all():
            before = page.locator(".inline-field.fresh").count()
            add.click()
            if page.locator(".inline-field.fresh").count() != before + 1:
                self.failures.append(f"{self.role} {path}: inline add did nothing")
        for choice in page.locator(".select2-container:visible a.select2-choice").all()[:3]:
            choice.click()
            page.keyboard.press("Escape")
        for picker in page.locator("input[data-role=datepicker]:visible").all()[:2]:
            picker.click()
            shown = page.locator(".daterangepicker:visible")
            if shown.count():
                text = shown.first.inner_text()
                years = [int(y) for y in re.findall(r"\b(19\d\d|20\d\d)\b", shown.first.inner_html())]
                if DENY.search(text) or not years or min(years) > 1940:
                    self.failures.append(f"{self.role} {path}: date picker {text[:60]!r}, years from "
                                         f"{min(years) if years else None}")
            page.keyboard.press("Escape")
        self.check(path + " (widgets opened)")

    def crawl_list(self, path: str) -> None:
        self.exercise_list(path)
        new = self.page.locator("ul.nav-tabs a[href*='/new/']")
        row_links = self.page.eval_on_selector_all(
            "table.model-list td.list-buttons-column a[href]", "els => els.slice(0, 2).map(e => e.getAttribute('href'))")
        new_href = new.first.get_attribute("href") if new.count() else None
        for href in [new_href, *row_links]:
            if href and self.visit(href):
                self.exercise_form(href.split("?")[0])


@pytest.mark.parametrize("role", ROLES)
def test_every_screen_works_in_chinese_under_the_csp(live_server, open_as, role):  # noqa: F811
    _app, base = live_server
    page, watch = open_as(role, WIDE)
    crawl = Crawl(page, watch, base, role)
    crawl.check("/admin/")
    urls = crawl.menu_urls()
    assert len(urls) >= 8, urls
    for url in urls:
        # 20 rows are enough to see every column and control; the city's 50-row pages only cost time
        if not crawl.visit(url + ("&" if "?" in url else "?") + "page_size=20"):
            continue
        if page.locator("table.model-list").count():
            crawl.crawl_list(url)
        elif page.locator("form.admin-form").count():
            crawl.exercise_form(url)
        else:
            crawl.check(url)
    assert not crawl.failures, "\n".join(crawl.failures)


def test_the_menu_is_organised_by_task(live_server, open_as):  # noqa: F811
    """The generic list of a table with a hand-made screen is not in the menu; the clerk does not see the
    city's templates; 打印设置 sits under 打印; under ?lang=en no menu entry stays Chinese."""
    _app, base = live_server
    page, _watch = open_as("shanshan")
    entries = page.locator("nav").inner_text()
    for hidden in ("职责调整", "年度工作计划", "计划事项", "职责模板维护", "年度计划模板"):
        assert not re.search(rf"(^|\n)\s*{hidden}\s*(\n|$)", entries), hidden
    hrefs = page.eval_on_selector_all("nav a[href]", "els => els.map(e => e.getAttribute('href'))")
    for generic in ("/admin/duty_adjustment/", "/admin/annual_plan/", "/admin/plan_item/",
                    "/admin/duty_template_entry/", "/admin/plan_template_item/"):
        assert generic not in hrefs, generic
    assert "/admin/duties/" in hrefs and "/admin/plans/" in hrefs
    page.locator("nav a.dropdown-toggle", has_text="打印").first.click()
    under_print = page.locator("nav .dropdown-menu.show").inner_text()
    assert "打印设置" in under_print and "打印中心" in under_print
    # the generic lists stay reachable from their screens
    page.goto(f"{base}/admin/duties/")
    assert page.locator("a[href^='/admin/duty_adjustment/']").count() == 1
    page.goto(f"{base}/admin/plans/")
    assert page.locator("a[href^='/admin/plan_item/']").count() == 1

    page.goto(f"{base}/admin/?lang=en")
    names = page.eval_on_selector_all("nav .dropdown-menu a, nav a.dropdown-toggle, nav a.nav-link",
                                      "els => els.map(e => e.textContent.trim())")
    chinese = [n for n in names if re.search(r"[\u4e00-\u9fff]", n) and n != "中文"]
    page.goto(f"{base}/admin/?lang=zh_Hans_CN")
    assert not chinese, chinese

    city, _ = open_as("city")
    city_hrefs = city.eval_on_selector_all("nav a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert "/admin/duty-template/" in city_hrefs and "/admin/plan_template_item/" in city_hrefs
