"""HTML of every printable, from plain data; ``render.render_pdf`` turns it into paper."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

from flask import render_template
from sqlalchemy.orm import Session

from models import Region
from models.duty_logic import REMOVED, STATUS_LABELS, TEMPLATE, effective_duties
from models.enums import DutyCategory, PlanStatus

from .data import (
    ChartData,
    chart_data,
    holders_of,
    militia_rows,
    names_text,
    plan_for,
    settings_for,
    township_posts,
    veteran_rows,
    village_post_counts,
)
from .render import asset_url

Asset = Callable[[str], str]

PERSON_HEADERS = [("姓名", 7), ("性别", 4), ("公民身份号码", 14), ("联系电话", 10), ("政治面貌", 8)]
VETERAN_HEADERS = PERSON_HEADERS + [("军种", 6), ("入伍时间", 8), ("退役时间", 8), ("退役方式", 11),
                                    ("专业特长", 10), ("返乡报到", 8), ("就业创业", 10), ("光荣牌", 5)]
MILITIA_HEADERS = PERSON_HEADERS + [("民兵类别", 8), ("编组", 7), ("所在单位", 12), ("职务", 6)]


def org_chart_html(charts: Sequence[ChartData], asset: Asset = asset_url) -> str:
    """One or many wall charts (one per township, each starting a new page)."""
    papers = sorted({d.paper for d in charts}) or ["A3"]
    first = charts[0].paper if charts else "A3"
    return render_template("printables/org_chart.html", charts=charts, papers=papers,
                           page_size=f"{first} landscape", margin_mm=10, asset=asset)


def org_chart_for(session: Session, township: Region, asset: Asset = asset_url,
                  paper: str | None = None) -> str:
    return org_chart_html([chart_data(session, township, paper=paper)], asset)


def _common(session: Session, township: Region) -> dict:
    settings = settings_for(session, township)
    now = datetime.datetime.now()
    return {"township": township, "footer_text": settings.footer_text or "", "read_at": now,
            "printed_on": now.date()}


def duty_table_html(session: Session, township: Region, asset: Asset = asset_url) -> str:
    """职责分工表: every effective line, removed template lines struck through, changes marked."""
    day = datetime.date.today()
    holders = {title: f"各村共 {n} 岗" for title, n in village_post_counts(session, township).items()}
    holders |= {p.title: names_text(holders_of(p, day)) or "空缺" for p in township_posts(session, township)}
    lines = effective_duties(township, include_removed=True, session=session)
    rows = [{"post": ln.post_title or "未指定岗位", "holders": holders.get(ln.post_title, "未设岗位"),
             "wording": ln.wording, "category": DutyCategory.label_of(ln.category),
             "mark": None if ln.status == TEMPLATE else STATUS_LABELS[ln.status],
             "removed": ln.status == REMOVED} for ln in lines]
    return render_template("printables/duty_table.html", rows=rows, page_size="A4 portrait", asset=asset,
                           title=f"{township.name}部站人员职责分工表", **_common(session, township))


def annual_plan_html(session: Session, township: Region, year: int, asset: Asset = asset_url) -> str:
    plan = plan_for(session, township, year)
    items = [{"month": f"{it.month} 月", "title": it.title, "lead": it.lead_post.title if it.lead_post else "",
              "status": PlanStatus.label_of(it.status), "status_value": it.status,
              "completed_on": it.completed_on.isoformat() if it.completed_on else "", "note": it.note or ""}
             for it in (plan.items if plan else [])]
    title = f"{township.name}{year} 年度大项工作计划" + (f"({plan.title})" if plan else "")
    return render_template("printables/annual_plan.html", items=items, plan=plan, year=year,
                           page_size="A4 landscape", asset=asset, title=title, **_common(session, township))


def veterans_html(session: Session, township: Region, sensitive: bool, asset: Asset = asset_url) -> str:
    return render_template("printables/roster.html", headers=VETERAN_HEADERS,
                           rows=veteran_rows(session, township, sensitive), sensitive=sensitive,
                           page_size="A4 landscape", asset=asset, title=f"{township.name}退役军人花名册",
                           **_common(session, township))


def militia_html(session: Session, township: Region, year: int, sensitive: bool,
                 asset: Asset = asset_url) -> str:
    return render_template("printables/roster.html", headers=MILITIA_HEADERS,
                           rows=militia_rows(session, township, year, sensitive), sensitive=sensitive,
                           page_size="A4 landscape", asset=asset, title=f"{township.name}{year} 年度民兵花名册",
                           **_common(session, township))


# -- militia (民兵整组), rooms and windows, year-end statistics ---------------------------------------------

EMERGENCY_HEADERS = PERSON_HEADERS + [("单位", 9), ("职务", 5), ("退役军人", 5), ("专业特长", 13),
                                      ("军事素养", 6)]


def militia_units_html(session: Session, township: Region, year: int, sensitive: bool,
                       asset: Asset = asset_url) -> str:
    """The year's roster by unit: each unit with its leader, planned size and members."""
    from .data import militia_unit_sections

    sections = militia_unit_sections(session, township, year, sensitive)
    return render_template("printables/militia_units.html", sections=sections, headers=PERSON_HEADERS + [
        ("民兵类别", 8), ("职务", 6), ("状态", 6)], sensitive=sensitive, page_size="A4 landscape", asset=asset,
        title=f"{township.name}{year} 年度民兵名册(按单位)", total=sum(len(s.rows) for s in sections),
        **_common(session, township))


def emergency_roster_html(session: Session, township: Region, year: int, sensitive: bool,
                          asset: Asset = asset_url) -> str:
    """The emergency detachment's roster, with 专业特长 and veteran status (rule 8)."""
    from .data import emergency_rows

    return render_template("printables/roster.html", headers=EMERGENCY_HEADERS,
                           rows=emergency_rows(session, township, year, sensitive), sensitive=sensitive,
                           page_size="A4 landscape", asset=asset,
                           title=f"{township.name}{year} 年度民兵应急分队名册", **_common(session, township))


def door_signs_html(session: Session, township: Region, asset: Asset = asset_url) -> str:
    """功能厅室与服务窗口 door and window signs: two to an A4 page, to cut apart."""
    from .data import door_signs

    return render_template("printables/door_signs.html", signs=door_signs(session, township),
                           page_size="A4 portrait", asset=asset, title=f"{township.name}功能厅室与服务窗口标牌",
                           **_common(session, township))


def village_warnings(session: Session, township: Region) -> list[str]:
    from models.village import village_rule_problems

    return village_rule_problems(session, township)


def stats_html(stats, asset: Asset = asset_url) -> str:
    """年度统计报表 (views.stats.YearStats) as an A4 document."""
    now = datetime.datetime.now()
    return render_template("printables/stats.html", stats=stats, tables=stats.tables(), page_size="A4 portrait",
                           asset=asset, title=f"{stats.region.name}{stats.year} 年度统计报表", footer_text="",
                           read_at=now, printed_on=now.date())
