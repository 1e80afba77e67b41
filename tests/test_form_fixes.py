"""Forms that used to fight the user (issue 11), checked without a browser: the post-title typo guard of the
template editor, no preselected required drop-down, the plan-status note, schema labels on inline blocks,
the search placeholder, 是/否 cells, menu metadata and templates free of inline handlers. The browser
journeys and the crawler (tests/test_browser*.py) check the same screens in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from models import DutyTemplateEntry
from tests.test_duties import tpl  # noqa: F401 - fixture

TEMPLATES = Path(__file__).parents[1] / "views" / "templates"


def _entries(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(DutyTemplateEntry))


def test_a_typo_in_a_post_title_is_refused_unless_confirmed(client, world, login, db, tpl):  # noqa: F811
    login("city")
    before = _entries(db)
    rv = client.post("/admin/duty-template/line", data={"post_title": "武装部部张", "duty_name": "国防教育",
                                                         "category": "armed_forces"})
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    assert "不是岗位目录中的岗位名称" in page and 'name="new_post_title"' in page
    assert _entries(db) == before
    # a title of the catalogue is taken as it is
    rv = client.post("/admin/duty-template/line", data={"post_title": "武装部部长", "duty_name": "国防教育",
                                                         "category": "armed_forces"})
    assert rv.status_code == 302 and _entries(db) == before + 1
    # renaming a line to a typo is refused too; confirming the new group takes it
    entry = tpl["entries"]["兵员征集"]
    rv = client.post("/admin/duty-template/line", data={"id": str(entry.id), "post_title": "武装部部张"})
    assert rv.status_code == 400
    db.session.expire_all()
    assert db.session.get(DutyTemplateEntry, entry.id).post_title == "武装部部长"
    rv = client.post("/admin/duty-template/line", data={"id": str(entry.id), "post_title": "武装部部张",
                                                         "new_post_title": "武装部部张"})
    assert rv.status_code == 302
    db.session.expire_all()
    assert db.session.get(DutyTemplateEntry, entry.id).post_title == "武装部部张"


def test_template_line_delete_asks_first(client, world, login, tpl):  # noqa: F811
    login("city")
    page = client.get("/admin/duty-template/").get_data(as_text=True)
    deletes = re.findall(r'<button[^>]*btn-outline-danger[^>]*>', page)
    assert deletes and all("data-confirm=" in b for b in deletes)


def test_appointment_form_preselects_no_post(client, world, login, tpl):  # noqa: F811
    login("shanshan")
    page = client.get("/admin/appointment/new/").get_data(as_text=True)
    select_html = re.search(r'<select[^>]*name="post"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.search(r'<option[^>]*selected[^>]*value="__None"|<option[^>]*value="__None"[^>]*selected',
                     select_html), select_html[:300]
    assert "请选择" in select_html
    rv = client.post("/admin/appointment/new/", data={"post": "__None", "start_on": "2026-01-01"})
    assert rv.status_code == 200 and "该字段是必填字段" in rv.get_data(as_text=True)


def test_generated_screens_speak_the_schema(client, world, login, tpl):  # noqa: F811
    login("city")
    page = client.get("/admin/annual_plan/new/").get_data(as_text=True)
    assert "Items" not in page and "添加 计划事项" in page and "onclick" not in page
    page = client.get("/admin/person/new/").get_data(as_text=True)
    assert "Veteran Profile" not in page and "请选择模型" not in page
    page = client.get("/admin/appointment/").get_data(as_text=True)
    assert "岗位岗位名称" not in page and "拼音或首字母" in page
    for text in ("shared: true", "shared: false", "onclick=", "onchange="):
        assert text not in client.get("/admin/room/").get_data(as_text=True), text


def test_menu_follows_the_task_and_the_role(client, world, login, tpl):  # noqa: F811
    login("shanshan")
    nav = client.get("/admin/duties/", follow_redirects=True).get_data(as_text=True)
    menu = nav.split("</nav>")[0]
    for generic in ("/admin/duty_adjustment/", "/admin/plan_item/", "/admin/annual_plan/",
                    "/admin/plan_template_item/", "/admin/duty-template/"):
        assert f'href="{generic}"' not in menu, generic
    assert "/admin/duty_adjustment/" in nav  # reachable from 职责分工
    assert client.get("/admin/duty_adjustment/").status_code == 200
    login("city")
    menu = client.get("/admin/").get_data(as_text=True).split("</nav>")[0]
    assert 'href="/admin/plan_template_item/"' in menu and 'href="/admin/duty-template/"' in menu


def test_no_inline_handlers_in_our_templates():
    handler = re.compile(r"\son[a-z]+\s*=", re.I)
    offenders = [str(p) for p in TEMPLATES.rglob("*.html") if handler.search(p.read_text(encoding="utf-8"))]
    assert not offenders
