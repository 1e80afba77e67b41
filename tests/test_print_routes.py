"""Print routes: scope (another township → 404), rights, masking, the 503 page and the 打印 menu."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from pypdf import PdfReader
from test_printables import build_office, no_spaces, pdf_pages, pdf_text

from admin_app.extensions import db as _db
from models import MilitiaMembership, Person, VeteranProfile

YEAR = datetime.date.today().year
ID_FULL = "431302200201010018"  # 24 in 2026: within the emergency detachment's age limits
ID_MASKED = "4313**********0018"


def routes(code: str) -> list[str]:
    return [f"/print/{code}/org-chart.pdf", f"/print/{code}/org-chart.html", f"/print/{code}/duty-table.pdf",
            f"/print/{code}/annual-plan/{YEAR}.pdf", f"/print/{code}/veterans.pdf",
            f"/print/{code}/militia/{YEAR}.pdf"]


@pytest.fixture()
def office(world):
    build_office(world.shanshan)
    person = Person(name="刘退伍", region=world.village, id_number=ID_FULL, phone="13800001234")
    assert person.check() == {}
    _db.session.add(person)
    _db.session.add(VeteranProfile(person=person, service="army", discharge_type="self_employed",
                                   specialty="汽车驾驶", honor_plaque=True))
    _db.session.add(MilitiaMembership(person=person, township=world.shanshan, year=YEAR, category="core",
                                      unit_type="emergency", role="squad_leader"))
    _db.session.commit()
    return world


def test_anonymous_is_sent_to_login(client, office):
    for url in routes(office.shanshan.code) + [f"/print/{office.louxing.code}/org-charts.pdf"]:
        rv = client.get(url)
        assert rv.status_code == 302 and "/login" in rv.headers["Location"], url


def test_clerk_prints_every_printable_of_own_township(client, login, office):
    login("shanshan")
    for url in routes(office.shanshan.code):
        rv = client.get(url)
        assert rv.status_code == 200, (url, rv.data[:300])
        if url.endswith(".pdf"):
            assert rv.mimetype == "application/pdf" and rv.data.startswith(b"%PDF")
            assert rv.headers["Cache-Control"] == "no-store"
        else:
            assert rv.mimetype == "text/html"
            page = rv.get_data(as_text=True)
            assert "杉山镇人民武装部 退役军人服务站 合署办公架构图" in page and 'lang="zh-CN"' in page
            assert "/print/static/print.css" in page  # the browser preview uses the app's own stylesheet
    pdf = client.get(f"/print/{office.shanshan.code}/org-chart.pdf").data
    assert pdf_pages(pdf) == [(1190.55, 841.89)]
    assert "张建国" in no_spaces(pdf_text(pdf))
    assert client.get("/print/static/print.css").status_code == 200


@pytest.mark.parametrize("other", ["dake", "tianping", "louxing", "city"])
def test_clerk_gets_404_for_any_other_region(client, login, office, other):
    login("shanshan")
    code = getattr(office, other).code
    for url in routes(code) + [f"/print/{code}/org-charts.pdf"]:
        assert client.get(url).status_code == 404, url


def test_unknown_codes_years_and_levels_are_404(client, login, office):
    login("city")
    for url in routes("439999999999") + routes("not-a-code") + routes(office.village.code):
        assert client.get(url).status_code == 404, url
    for year in (1999, 2101):
        assert client.get(f"/print/{office.shanshan.code}/annual-plan/{year}.pdf").status_code == 404
        assert client.get(f"/print/{office.shanshan.code}/militia/{year}.pdf").status_code == 404
    # a township is not a county: the batch route refuses it, the single routes refuse counties
    assert client.get(f"/print/{office.shanshan.code}/org-charts.pdf").status_code == 404
    assert client.get(f"/print/{office.louxing.code}/org-chart.pdf").status_code == 404


def test_other_clerk_cannot_reach_shanshan(client, login, office):
    login("tianping")
    for url in routes(office.shanshan.code):
        assert client.get(url).status_code == 404, url


def test_viewer_prints_masked_ids_clerk_sees_them_in_full(client, login, office):
    code = office.shanshan.code
    login("viewer")
    for url in (f"/print/{code}/veterans.pdf", f"/print/{code}/militia/{YEAR}.pdf"):
        rv = client.get(url)
        assert rv.status_code == 200
        text = no_spaces(pdf_text(rv.data))
        assert "刘退伍" in text and ID_MASKED in text and ID_FULL not in text, url
        assert "138****1234" in text and "13800001234" not in text
    login("shanshan")
    for url in (f"/print/{code}/veterans.pdf", f"/print/{code}/militia/{YEAR}.pdf"):
        text = no_spaces(pdf_text(client.get(url).data))
        assert ID_FULL in text and "13800001234" in text, url
    militia = no_spaces(pdf_text(client.get(f"/print/{code}/militia/{YEAR}.pdf").data))
    assert "基干民兵" in militia and "应急分队" in militia and "班长" in militia


def test_rosters_are_a4_landscape(client, login, office):
    login("shanshan")
    rv = client.get(f"/print/{office.shanshan.code}/veterans.pdf")
    assert set(pdf_pages(rv.data)) == {(841.89, 595.28)}


def test_county_admin_downloads_all_charts_of_the_county(client, login, office):
    login("louxing")
    rv = client.post(f"/print/{office.louxing.code}/org-charts.pdf")
    assert rv.status_code == 303 and "/admin/jobs/" in rv.headers["Location"]  # a background job
    status = client.get(rv.headers["Location"].split("localhost", 1)[-1] + ".json").get_json()
    assert status["status"] == "done"
    rv = client.get(status["download_url"])
    reader = PdfReader(io.BytesIO(rv.data))
    assert len(reader.pages) == 2
    assert "大科街道" in no_spaces(reader.pages[0].extract_text())
    assert "杉山镇" in no_spaces(reader.pages[1].extract_text())
    assert client.post(f"/print/{office.xinhua.code}/org-charts.pdf").status_code == 404
    assert client.post(f"/print/{office.city.code}/org-charts.pdf").status_code == 404


def test_missing_font_answers_503_with_a_chinese_message(client, login, office, monkeypatch):
    from printables import render

    monkeypatch.setattr(render, "environment_problems",
                        lambda: ("缺少中文字体“Noto Sans CJK SC”(请执行 apt-get install fonts-noto-cjk)",))
    login("shanshan")
    rv = client.get(f"/print/{office.shanshan.code}/org-chart.pdf")
    assert rv.status_code == 503
    page = rv.get_data(as_text=True)
    assert "无法打印" in page and "fonts-noto-cjk" in page


def test_hostile_name_is_escaped_in_the_browser_preview(client, login, office):
    person = _db.session.scalars(_db.select(Person).where(Person.name == "张建国")).one()
    person.name = '<img src="file:///etc/passwd">'
    _db.session.commit()
    login("shanshan")
    page = client.get(f"/print/{office.shanshan.code}/org-chart.html").get_data(as_text=True)
    assert "<img src=" not in page
    assert "&lt;img src=&#34;file:///etc/passwd&#34;" in page


def test_print_menu_lists_only_townships_in_scope(client, login, office):
    login("shanshan")
    page = client.get("/admin/print/").get_data(as_text=True)
    assert "杉山镇" in page and f"/print/{office.shanshan.code}/org-chart.pdf" in page
    assert "大科街道" not in page and "田坪镇" not in page
    assert not re.search(r"/print/\d+/org-charts\.pdf", page)  # a clerk has no county batch
    login("louxing")
    page = client.get("/admin/print/").get_data(as_text=True)
    assert "杉山镇" in page and "大科街道" in page and "田坪镇" not in page
    assert f"/print/{office.louxing.code}/org-charts.pdf" in page


def test_print_settings_screen_is_scoped_and_used_by_the_print(client, login, office):
    from conftest import count_rows

    from models import PrintSettings

    login("shanshan")
    form = {"paper_size": "A4", "title": "杉山镇部站架构图", "footer_text": "", "show_duties": "y",
            "show_plan": "y"}
    rv = client.post("/admin/print_settings/new/", data={**form, "township": str(office.dake.id)})
    assert rv.status_code != 302 or "print_settings" not in rv.headers.get("Location", "")
    assert count_rows(PrintSettings) == 0  # another township's settings: refused, nothing stored
    rv = client.post("/admin/print_settings/new/", data={**form, "township": str(office.shanshan.id)})
    assert rv.status_code == 302
    assert count_rows(PrintSettings) == 1
    pdf = client.get(f"/print/{office.shanshan.code}/org-chart.pdf").data
    assert pdf_pages(pdf) == [(841.89, 595.28)]
    assert "杉山镇部站架构图" in no_spaces(pdf_text(pdf))
