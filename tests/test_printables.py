"""Printables: the wall chart layout, the PDF renderer and the content of every printable."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from pypdf import PdfReader

from admin_app.extensions import db as _db
from models import (
    AnnualPlan,
    Appointment,
    Duty,
    DutyAdjustment,
    DutyTemplateEntry,
    Person,
    PlanItem,
    Post,
    PrintSettings,
)
from printables.orgchart import PostNode, layout_tree
from tests.conftest import post_type

A3_LANDSCAPE = (1190.55, 841.89)
PLAN_TITLES = ["春节走访慰问优抚对象", "召开党管武装述职会", "开展民兵整组", "清明节烈士祭扫活动",
               "兵役登记和征兵宣传", "汛期应急民兵分队集结拉动", "八一建军节双拥慰问", "新兵体检政审",
               "新兵欢送大会", "退役士兵接收安置", "民兵军事训练考核", "年度工作总结评比"]


def build_office(township, *, extra_officers: int = 0, prefix: str = ""):
    """A merged office like the demo: 部长 over 副部长 and 站长 (分管), officers under both,
    a concurrent holder (王芳 站长 兼 副部长), a vacant post, template duties, adjustments and a plan."""
    s = _db.session
    people = {name: Person(name=prefix + name, region=township) for name in
              ("张建国", "王芳", "赵卫东", "吴海燕", "郑晓峰")}
    s.add_all(people.values())

    def post(title, side, parent=None, order=0):
        p = Post(region=township, title=title, side=side, parent=parent, sort_order=order,
                 post_type=post_type(title, side=side))
        s.add(p)
        return p

    head = post("部长", "armed_forces", order=1)
    deputy = post("副部长", "armed_forces", head, 2)
    station = post("站长", "station", head, 3)
    officers = {
        "民兵整组干事": post("民兵整组干事", "armed_forces", deputy, 4),
        "征兵工作干事": post("征兵工作干事", "armed_forces", deputy, 5),  # vacant
        "优抚安置干事": post("优抚安置干事", "station", station, 6),
        "就业创业干事": post("就业创业干事", "station", station, 7),
    }
    for i in range(extra_officers):
        officers[f"综合干事{i + 1:02d}"] = post(f"综合干事{i + 1:02d}", "station", station, 10 + i)
    start = datetime.date(2023, 5, 1)
    for person, p, concurrent in ((people["张建国"], head, False), (people["王芳"], station, False),
                                  (people["王芳"], deputy, True), (people["赵卫东"], officers["民兵整组干事"], False),
                                  (people["吴海燕"], officers["优抚安置干事"], False),
                                  (people["郑晓峰"], officers["就业创业干事"], False)):
        s.add(Appointment(person=person, post=p, start_on=start, concurrent=concurrent))
    duties = {}
    for order, (title, name, cat) in enumerate((
            ("部长", "主持人民武装部全面工作", "armed_forces"), ("部长", "安全生产", "non_core"),
            ("副部长", "民兵组织建设和战备值班", "armed_forces"), ("站长", "退役军人信息采集", "veterans"),
            ("民兵整组干事", "民兵整组", "armed_forces"), ("征兵工作干事", "兵役登记和征兵宣传", "armed_forces"),
            ("优抚安置干事", "优抚对象抚恤补助", "veterans"), ("就业创业干事", "就业创业扶持", "veterans"))):
        duty = duties.get(name) or Duty(name=name, category=cat)
        duties[name] = duty
        s.add(DutyTemplateEntry(post_title=title, duty=duty, sort_order=order))
    for i in range(extra_officers):
        title = f"综合干事{i + 1:02d}"
        s.add(DutyTemplateEntry(post_title=title, duty=Duty(name=f"{title}专项工作", category="veterans"),
                                sort_order=100 + i))
    local = Duty(name="防汛应急民兵集结", category="armed_forces", region=township)
    s.add(local)
    s.flush()
    made = datetime.datetime(2024, 1, 5, 9, 0)
    s.add_all([
        DutyAdjustment(township=township, action="add", duty=local, target_post=officers["民兵整组干事"],
                       reason="汛期任务重", made_at=made),
        DutyAdjustment(township=township, action="reword", duty=duties["就业创业扶持"],
                       new_wording="就业创业扶持与返乡创业贷款协调", reason="结合本镇实际", made_at=made),
        DutyAdjustment(township=township, action="remove", duty=duties["安全生产"],
                       reason="聚焦主责主业", made_at=made),
    ])
    plan = AnnualPlan(township=township, year=datetime.date.today().year, title="年度大项工作计划")
    for month, title in enumerate(PLAN_TITLES, start=1):
        plan.items.append(PlanItem(month=month, title=title, status="done" if month < 3 else "planned"))
    s.add(plan)
    s.commit()
    return {"head": head, "deputy": deputy, "station": station, "officers": officers, "people": people,
            "plan": plan}


@pytest.fixture()
def office(world):
    return build_office(world.shanshan)


# -- PDF inspection helpers ---------------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def pdf_pages(data: bytes) -> list[tuple[float, float]]:
    return [(round(float(p.mediabox.width), 2), round(float(p.mediabox.height), 2))
            for p in PdfReader(io.BytesIO(data)).pages]


def pdf_fonts(data: bytes) -> list[dict]:
    """Every font: name, whether a font file is embedded, and whether it can draw CJK."""
    fonts: dict[str, dict] = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        resources = page.get("/Resources") or {}
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            target = descendants[0].get_object() if descendants else font
            descriptor = target.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            name = str(font.get("/BaseFont"))
            fonts[name] = {"name": name,
                           "embedded": any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")),
                           "cjk": "CJK" in name}
    return list(fonts.values())


def no_spaces(text: str) -> str:
    return re.sub(r"\s+", "", text)


# -- layout -------------------------------------------------------------------------------------------

def _nodes(n_officers: int) -> list[PostNode]:
    nodes = [PostNode(1, "部长", None, "armed_forces", (("张建国", False),)),
             PostNode(2, "副部长", 1, "armed_forces", (("王芳", True),)),
             PostNode(3, "站长", 1, "station", (("王芳", False),))]
    nodes += [PostNode(10 + i, f"干事{i}", 2 if i % 3 == 0 else 3, "armed_forces" if i % 3 == 0 else "station")
              for i in range(n_officers)]
    return nodes


@pytest.mark.parametrize("n_officers", [0, 4, 7, 22, 27, 40])
def test_layout_boxes_do_not_overlap_and_stay_inside(n_officers):
    width, height = 1100.0, 340.0
    layout = layout_tree(_nodes(n_officers), width, height)
    assert len(layout.boxes) == 3 + n_officers
    for box in layout.boxes:
        assert box.x >= 0 and box.y >= 0, box
        assert box.x + box.w <= width + 1e-6 and box.y + box.h <= height + 1e-6, box
        assert box.w >= 40 and box.h >= 14, box  # still room for readable type
    for i, a in enumerate(layout.boxes):
        for b in layout.boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    for edge in layout.edges:
        for x, y in edge.points:
            assert -1e-6 <= x <= width + 1e-6 and -1e-6 <= y <= height + 1e-6


def test_layout_parent_sits_above_children_and_marks_oversight():
    layout = layout_tree(_nodes(4), 1100, 340)
    head, station = layout.box_of(1), layout.box_of(3)
    assert head.y + head.h < station.y
    assert layout.box_of(13).y > station.y + station.h
    labels = [e.label for e in layout.edges if e.label]
    assert labels == ["分管"]  # 部长 (armed forces) → 站长 (station), and only that edge


def test_layout_survives_parent_cycle_and_unknown_parent():
    nodes = [PostNode(1, "甲", 2), PostNode(2, "乙", 1), PostNode(3, "丙", 99)]
    layout = layout_tree(nodes, 600, 200)
    assert sorted(b.post_id for b in layout.boxes) == [1, 2, 3]
    assert not any(a.overlaps(b) for a in layout.boxes for b in layout.boxes if a is not b)


def test_layout_wraps_wide_groups_into_rows():
    layout = layout_tree(_nodes(40), 1100, 340)
    officer_rows = {round(b.y) for b in layout.boxes if b.post_id >= 10}
    assert len(officer_rows) >= 2  # 40 officers do not fit one row at a readable width


# -- the wall chart as paper --------------------------------------------------------------------------

def chart_pdf(township, refused=None) -> bytes:
    from printables.documents import org_chart_for
    from printables.render import render_pdf

    return render_pdf(org_chart_for(_db.session, township), refused=refused)


def test_wall_chart_is_one_a3_landscape_page_with_everything_on_it(office, world):
    refused: list[str] = []
    data = chart_pdf(world.shanshan, refused)
    assert pdf_pages(data) == [A3_LANDSCAPE]
    text = no_spaces(pdf_text(data))
    for expected in ("杉山镇人民武装部退役军人服务站合署办公架构图", "部长", "张建国", "副部长", "站长",
                     "民兵整组干事", "征兵工作干事", "空缺", "兼", "分管", "人员职责分工", "年度大项工作计划",
                     "防汛应急民兵集结", "新增", "就业创业扶持与返乡创业贷款协调", "调整", "打印日期",
                     "数据读取时间"):
        assert expected in text, expected
    for month in ("一月", "六月", "十二月"):
        assert month in text
    for title in PLAN_TITLES:
        assert title in text, title
    assert "安全生产" not in text  # removed by the township: not on the wall
    assert refused == []


def test_wall_chart_fonts_are_embedded_subset_cjk(office, world):
    fonts = pdf_fonts(chart_pdf(world.shanshan))
    assert fonts
    for font in fonts:
        assert font["embedded"], font
        assert re.match(r"^/[A-Z]{6}\+", font["name"]), font
    assert any(f["cjk"] for f in fonts), fonts
    assert len(fonts) <= 2, fonts  # regular and bold only: no synthetic oblique face embedded as well


def test_wall_chart_html_marks_vacant_and_concurrent_posts(office, world):
    from printables.documents import org_chart_for

    html = org_chart_for(_db.session, world.shanshan)
    assert html.count('class="box vacant"') == 1  # 征兵工作干事 only
    vacant_box = html.split('class="box vacant"')[1].split("</div>\n      </div>")[0]
    assert "征兵工作干事" in vacant_box and "空缺" in vacant_box
    assert html.count('<span class="jian">兼</span>') == 1


def test_print_settings_change_paper_title_footer_and_sections(office, world):
    _db.session.add(PrintSettings(township=world.shanshan, paper_size="A4", title="杉山镇部站架构图(试行)",
                                  footer_text="杉山镇人民武装部 制", show_duties=True, show_plan=False))
    _db.session.commit()
    data = chart_pdf(world.shanshan)
    assert pdf_pages(data) == [(841.89, 595.28)]
    text = no_spaces(pdf_text(data))
    assert "杉山镇部站架构图(试行)" in text and "杉山镇人民武装部制" in text
    assert "人员职责分工" in text and "年度大项工作计划" not in text and PLAN_TITLES[0] not in text


def test_thirty_post_township_is_readable_and_tables_continue(world):
    office = build_office(world.shanshan, extra_officers=23)
    assert len(office["officers"]) + 3 == 30
    data = chart_pdf(world.shanshan)
    pages = pdf_pages(data)
    assert 1 <= len(pages) <= 2 and set(pages) == {A3_LANDSCAPE}
    reader = PdfReader(io.BytesIO(data))
    first = no_spaces(reader.pages[0].extract_text())
    everything = no_spaces(pdf_text(data))
    for title in ["部长", "副部长", "站长", *office["officers"]]:
        assert title in first, title  # the whole tree is on page 1
    assert len(pages) == 2
    second = no_spaces(reader.pages[1].extract_text())
    assert "工作事项" in second  # the continued table repeats its header
    for i in range(1, 24):
        assert f"综合干事{i:02d}专项工作" in everything
    assert "十二月" in everything and PLAN_TITLES[-1] in everything


def test_chart_of_an_empty_township_still_prints(world):
    data = chart_pdf(world.dake)
    assert pdf_pages(data) == [A3_LANDSCAPE]
    assert "大科街道" in no_spaces(pdf_text(data))


# -- safety -------------------------------------------------------------------------------------------

HOSTILE_NAME = '<img src="file:///etc/passwd">'
HOSTILE_TITLE = '<link rel="stylesheet" href="http://evil.example/x.css">岗'


def test_hostile_names_print_as_plain_text_and_fetch_nothing(office, world):
    office["people"]["赵卫东"].name = HOSTILE_NAME
    office["officers"]["征兵工作干事"].title = HOSTILE_TITLE
    _db.session.commit()
    refused: list[str] = []
    data = chart_pdf(world.shanshan, refused)
    text = no_spaces(pdf_text(data))
    assert no_spaces(HOSTILE_NAME) in text
    assert no_spaces(HOSTILE_TITLE) in text
    assert refused == []  # escaped: the renderer was never asked for these URLs
    assert b"root:x:0" not in data


def test_renderer_refuses_file_and_http_urls_even_in_raw_html(app, db):
    from printables.render import render_pdf

    refused: list[str] = []
    html = ('<html lang="zh-CN"><head><link rel="stylesheet" href="http://evil.example/x.css"></head>'
            '<body><p style="font-family: \'Noto Sans CJK SC\'">测试</p>'
            '<img src="file:///etc/passwd"><img src="https://evil.example/p.png"></body></html>')
    data = render_pdf(html, refused=refused)
    assert set(refused) == {"http://evil.example/x.css", "file:///etc/passwd", "https://evil.example/p.png"}
    assert b"root:x:0" not in data


def test_asset_fetcher_serves_only_its_own_static_files():
    from printables.render import RefusedURL, fetch_asset

    body, mime = fetch_asset("asset:print.css")
    assert b"Noto Sans CJK SC" in body and mime == "text/css"
    for url in ("asset:../render.py", "asset:/etc/passwd", "asset:nope.css", "file:///etc/passwd",
                "data:text/css,body{}", "http://localhost/static/print.css"):
        with pytest.raises(RefusedURL):
            fetch_asset(url)


def test_missing_subsetter_gives_a_clear_chinese_error(monkeypatch, office, world):
    from printables import render

    monkeypatch.setattr(render, "_weasyprint_has_harfbuzz_subset", lambda: False)
    with pytest.raises(render.PrintEnvironmentError, match="libharfbuzz-subset0"):
        chart_pdf(world.shanshan)


def test_missing_font_gives_a_clear_chinese_error(monkeypatch, office, world):
    from printables import render

    monkeypatch.setattr(render, "_font_installed", lambda family: False)
    render.environment_problems.cache_clear()
    try:
        with pytest.raises(render.PrintEnvironmentError, match="fonts-noto-cjk") as caught:
            chart_pdf(world.shanshan)
        assert "无法打印" in str(caught.value)
    finally:
        monkeypatch.undo()
        render.environment_problems.cache_clear()
    assert render.environment_problems() == ()


def test_environment_check_reports_nothing_on_a_good_machine():
    from printables.render import _font_installed, environment_problems

    assert environment_problems() == ()
    assert not _font_installed("No Such Font Family 12345")


# -- other printables ---------------------------------------------------------------------------------

def test_duty_table_is_a4_portrait_and_marks_changes(office, world):
    from printables.documents import duty_table_html
    from printables.render import render_pdf

    data = render_pdf(duty_table_html(_db.session, world.shanshan))
    assert set(pdf_pages(data)) == {(595.28, 841.89)}
    text = no_spaces(pdf_text(data))
    assert "杉山镇部站人员职责分工表" in text
    for expected in ("新增", "调整", "移除", "安全生产", "防汛应急民兵集结", "王芳(兼)", "空缺"):
        assert expected in text, expected


def test_duty_table_repeats_its_header_across_pages(world):
    from printables.documents import duty_table_html
    from printables.render import render_pdf

    build_office(world.shanshan, extra_officers=60)
    data = render_pdf(duty_table_html(_db.session, world.shanshan))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    for page in reader.pages:
        assert "与模板比较" in no_spaces(page.extract_text())


def test_annual_plan_is_a4_landscape_with_status(office, world):
    from printables.documents import annual_plan_html
    from printables.render import render_pdf

    year = datetime.date.today().year
    data = render_pdf(annual_plan_html(_db.session, world.shanshan, year))
    assert set(pdf_pages(data)) == {(841.89, 595.28)}
    text = no_spaces(pdf_text(data))
    assert f"杉山镇{year}年度大项工作计划" in text
    assert text.count("已完成") == 2 and text.count("计划中") == 10
    empty = no_spaces(pdf_text(render_pdf(annual_plan_html(_db.session, world.shanshan, 2001))))
    assert "2001年尚未制定年度大项工作计划" in empty


# -- batch --------------------------------------------------------------------------------------------

def test_batch_in_process_prints_one_chart_per_township_in_code_order(office, world):
    from printables.batch import render_batch

    build_office(world.tianping, prefix="田")
    done: list[int] = []
    data = render_batch([world.dake.id, world.shanshan.id, world.tianping.id], config={}, workers=1,
                        session=_db.session, on_done=done.append)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 3 and sum(done) == 3
    heads = [no_spaces(p.extract_text()) for p in reader.pages]
    assert "大科街道" in heads[0] and "杉山镇" in heads[1] and "田坪镇" in heads[2]
    assert "田张建国" in heads[2]
    names = [f["name"] for f in pdf_fonts(data)]
    assert len(names) == len(set(names))  # each font embedded once for the whole batch


def test_merge_keeps_page_order():
    from pypdf import PdfWriter

    from printables.batch import chunked, merge_pdfs

    def blank(n: int) -> bytes:
        w = PdfWriter()
        for i in range(n):
            w.add_blank_page(width=100 + i, height=100)
        out = io.BytesIO()
        w.write(out)
        return out.getvalue()

    merged = PdfReader(io.BytesIO(merge_pdfs([blank(2), blank(3)])))
    assert [int(p.mediabox.width) for p in merged.pages] == [100, 101, 100, 101, 102]
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_cli_prints_a_county_and_honours_as_user(app, office, world, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "louxing.pdf"
    result = runner.invoke(args=["print", "org-chart", "--region", world.louxing.code, "--out", str(out)])
    assert result.exit_code == 0, result.output
    reader = PdfReader(str(out))
    assert len(reader.pages) == 2  # 大科街道 (431302005000) before 杉山镇 (431302100000)
    assert "大科街道" in no_spaces(reader.pages[0].extract_text())
    assert "杉山镇" in no_spaces(reader.pages[1].extract_text())

    mine = tmp_path / "mine.pdf"
    result = runner.invoke(args=["print", "org-chart", "--region", world.louxing.code, "--out", str(mine),
                                 "--as", "shanshan"])
    assert result.exit_code == 0, result.output
    assert len(PdfReader(str(mine)).pages) == 1

    denied = tmp_path / "denied.pdf"
    result = runner.invoke(args=["print", "org-chart", "--region", world.shanshan.code, "--out", str(denied),
                                 "--as", "dake"])
    assert result.exit_code != 0 and "不在账号 dake 的打印授权范围内" in result.output
    assert not denied.exists()
    result = runner.invoke(args=["print", "org-chart", "--region", "439999999999", "--out", str(denied)])
    assert result.exit_code != 0 and "不存在" in result.output


def test_a2_paper_option(office, world):
    _db.session.add(PrintSettings(township=world.shanshan, paper_size="A2"))
    _db.session.commit()
    assert pdf_pages(chart_pdf(world.shanshan)) == [(1683.78, 1190.55)]


def test_village_posts_of_the_template_are_counted_not_called_missing(office, world):
    from printables.data import chart_data

    duty = Duty(name="村级退役军人信息报送", category="veterans")
    _db.session.add_all([DutyTemplateEntry(post_title="村服务站站长", duty=duty, sort_order=50),
                         DutyTemplateEntry(post_title="驻村联络员", duty=Duty(name="联络", category="veterans"),
                                           sort_order=51),
                         Post(region=world.village, title="村服务站站长", side="village_station",
                              post_type=post_type("村服务站站长", side="village_station"))])
    _db.session.commit()
    rows = {r.post_title: r for r in chart_data(_db.session, world.shanshan).duty_rows}
    assert rows["村服务站站长"].names == "各村共 1 岗" and not rows["村服务站站长"].vacant
    assert rows["驻村联络员"].names == "未设岗位" and rows["驻村联络员"].vacant
    assert rows["征兵工作干事"].names == "空缺" and rows["部长"].names == "张建国"
    assert rows["副部长"].names == "王芳(兼)"
