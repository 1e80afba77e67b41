"""年度统计报表: per township, county or city for a chosen year, on screen, as XLSX and as PDF.

Veterans by category (退役方式) and employment, service records by type and status with the average
handling days, militia by category, unit kind and unit, the emergency detachment's size, and the
completion of the annual plan. Every figure is counted through the user's scope narrowed to the chosen
region (``Scope.narrowed_to``), each table through the scope of its own model.

A township's XLSX and PDF are answered at once; a county's or the city's (or a province's) are background
jobs (``run_statistics_job``, JobKind.STATISTICS): the user downloads them from 我的任务, and the job counts
the figures again in its owner's scope, one progress step per counted table.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Response, abort, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import case, extract, func, select

from admin_app.extensions import db
from admin_app.scope import EXPORT, PRINT, VIEW, Scope, current_scope
from admin_app.spreadsheet import safe_cell
from models import (
    AnnualPlan,
    JobKind,
    MilitiaMembership,
    MilitiaUnit,
    PlanItem,
    Region,
    ServiceRecord,
    VeteranProfile,
)
from models.enums import (
    DischargeType,
    EmploymentStatus,
    MilitiaCategory,
    MilitiaMemberStatus,
    MilitiaUnitType,
    PlanStatus,
    RegionLevel,
    ServiceKind,
    ServiceStatus,
)
from models.militia import unit_sizes

from .militia import militia_year
from .screens import ScopedScreen

LEVELS = (RegionLevel.TOWNSHIP.value, RegionLevel.COUNTY.value, RegionLevel.CITY.value)
UNSET = "—"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The tables a report counts: exporting or printing it needs that right on each of them.
COUNTED = ("VeteranProfile", "ServiceRecord", "MilitiaMembership", "MilitiaUnit", "PlanItem")


@dataclass
class Table:
    """A titled table of figures: ``rows`` of (label, *numbers); the last row may be a total."""

    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)


@dataclass
class YearStats:
    region: Region
    year: int
    veterans_total: int = 0
    veterans_reported: int = 0
    by_discharge: dict[str, int] = field(default_factory=dict)
    by_employment: dict[str, int] = field(default_factory=dict)
    services: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) → n
    handling_days: dict[str, float | None] = field(default_factory=dict)  # kind → average days, closed ones
    militia_by_category: dict[str, int] = field(default_factory=dict)
    militia_by_kind: dict[str, int] = field(default_factory=dict)
    militia_pending: int = 0
    units: list[tuple[str, str, str, int | None, int]] = field(default_factory=list)  # township, unit, kind, plan, n
    emergency_size: int = 0
    plan_total: int = 0
    plan_done: int = 0

    @property
    def militia_total(self) -> int:
        return sum(self.militia_by_category.values())

    @property
    def plan_percent(self) -> int | None:
        return round(100 * self.plan_done / self.plan_total) if self.plan_total else None

    def tables(self) -> list[Table]:
        """The figures as the tables shown, exported and printed (one source for all three)."""
        out = [Table("退役军人(按退役方式)", ["退役方式", "人数"],
                     [[DischargeType.label_of(k) if k else "未填写", n] for k, n in _sorted(self.by_discharge,
                                                                                        DischargeType)]
                     + [["合计", self.veterans_total]]),
               Table("退役军人(按就业创业情况)", ["就业创业情况", "人数"],
                     [[EmploymentStatus.label_of(k) if k else "未填写", n]
                      for k, n in _sorted(self.by_employment, EmploymentStatus)]
                     + [["合计", self.veterans_total], [f"{self.year} 年返乡报到", self.veterans_reported]])]
        statuses = [s.value for s in ServiceStatus]
        rows = []
        for kind in [k.value for k in ServiceKind]:
            counts = [self.services.get((kind, s), 0) for s in statuses]
            if sum(counts):
                days = self.handling_days.get(kind)
                rows.append([ServiceKind.label_of(kind), *counts, sum(counts),
                             UNSET if days is None else round(days, 1)])
        totals = [sum(self.services.get((k.value, s), 0) for k in ServiceKind) for s in statuses]
        all_days = self.handling_days.get("*")
        rows.append(["合计", *totals, sum(totals), UNSET if all_days is None else round(all_days, 1)])
        out.append(Table(f"{self.year} 年服务事项(按类别和状态)",
                         ["事项类别", *[ServiceStatus.label_of(s) for s in statuses], "合计", "平均办理天数"], rows))
        out.append(Table(f"{self.year} 年度民兵(按类别和编组)", ["项目", "人数"],
                         [[MilitiaCategory.label_of(k), self.militia_by_category.get(k, 0)]
                          for k in [c.value for c in MilitiaCategory]]
                         + [[MilitiaUnitType.label_of(k), self.militia_by_kind.get(k, 0)]
                            for k in [u.value for u in MilitiaUnitType]]
                         + [["应急分队人数", self.emergency_size], ["待确认", self.militia_pending],
                            ["合计", self.militia_total]]))
        out.append(Table(f"{self.year} 年度民兵编组(编制与实有)", ["乡镇/街道", "单位", "类别", "计划编制", "实有"],
                         [[t, u, MilitiaUnitType.label_of(k), UNSET if p is None else p, n]
                          for t, u, k, p, n in self.units]))
        out.append(Table(f"{self.year} 年度大项工作计划完成情况", ["项目", "数量"],
                         [["计划事项(不含已取消)", self.plan_total], ["已完成", self.plan_done],
                          ["完成率(百分数)", UNSET if self.plan_percent is None else self.plan_percent]]))
        return out


def _sorted(counts: dict, enum_cls) -> list[tuple]:
    order = {m.value: i for i, m in enumerate(enum_cls)}
    return sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order)))


def year_stats(scope: Scope, region: Region, year: int, on_step=None) -> YearStats:
    """Every figure of the year for ``region``, each through ``scope`` narrowed to the region.

    The figures are counted table by table (``STEPS``); ``on_step()`` is called after each (a job's
    progress)."""
    narrow = scope.narrowed_to(region)
    stats = YearStats(region, year)

    def scoped(stmt, model):
        return narrow.filter(stmt, model, VIEW)

    for step in STEPS:
        step(stats, scoped, year)
        if on_step is not None:
            on_step()
    return stats


def _count_veterans(stats: YearStats, scoped, year: int) -> None:
    # Counted by the database (a city holds ~100,000 veterans; reading them row by row took seconds)
    reported = func.sum(case((extract("year", VeteranProfile.reported_home_on) == year, 1), else_=0))
    veterans = scoped(select(VeteranProfile.discharge_type, VeteranProfile.employment_status, func.count(), reported)
                      .group_by(VeteranProfile.discharge_type, VeteranProfile.employment_status), VeteranProfile)
    for discharge, employment, n, n_reported in db.session.execute(veterans):
        stats.veterans_total += n
        stats.by_discharge[discharge] = stats.by_discharge.get(discharge, 0) + n
        stats.by_employment[employment] = stats.by_employment.get(employment, 0) + n
        stats.veterans_reported += int(n_reported or 0)


def _count_services(stats: YearStats, scoped, year: int) -> None:
    records = scoped(select(ServiceRecord.kind, ServiceRecord.status, ServiceRecord.served_on,
                            ServiceRecord.closed_on).where(extract("year", ServiceRecord.served_on) == year),
                     ServiceRecord)
    days: dict[str, list[int]] = {}
    for kind, status, served, closed in db.session.execute(records):
        stats.services[(kind, status)] = stats.services.get((kind, status), 0) + 1
        if closed is not None and served is not None and closed >= served:
            days.setdefault(kind, []).append((closed - served).days)
            days.setdefault("*", []).append((closed - served).days)
    stats.handling_days = {k: sum(v) / len(v) for k, v in days.items()}


def _count_militia(stats: YearStats, scoped, year: int) -> None:
    members = scoped(select(MilitiaMembership.category, MilitiaMembership.unit_type, MilitiaMembership.status,
                            func.count()).where(MilitiaMembership.year == year)
                     .group_by(MilitiaMembership.category, MilitiaMembership.unit_type, MilitiaMembership.status),
                     MilitiaMembership)
    for category, unit_type, status, n in db.session.execute(members):
        stats.militia_by_category[category] = stats.militia_by_category.get(category, 0) + n
        stats.militia_by_kind[unit_type] = stats.militia_by_kind.get(unit_type, 0) + n
        stats.militia_pending += n if status == MilitiaMemberStatus.PENDING.value else 0
    stats.emergency_size = stats.militia_by_kind.get(MilitiaUnitType.EMERGENCY.value, 0)


def _count_units(stats: YearStats, scoped, year: int) -> None:
    s = db.session
    sizes = dict(s.execute(scoped(select(MilitiaMembership.unit_id, func.count())
                                  .where(MilitiaMembership.year == year, MilitiaMembership.unit_id.is_not(None))
                                  .group_by(MilitiaMembership.unit_id), MilitiaMembership)).all())
    units = scoped(select(MilitiaUnit, Region.name).join(Region, MilitiaUnit.township_id == Region.id)
                   .where(MilitiaUnit.year == year).order_by(Region.code, MilitiaUnit.sort_order, MilitiaUnit.id),
                   MilitiaUnit)
    found = s.execute(units).all()
    totals = unit_sizes([u for u, _t in found], sizes)  # a 连 counts its 排 and 班
    stats.units = [(township, u.name, u.kind, u.planned_size, totals.get(u.id, 0)) for u, township in found]


def _count_plans(stats: YearStats, scoped, year: int) -> None:
    items = scoped(select(PlanItem.status, func.count()).join(AnnualPlan, PlanItem.plan_id == AnnualPlan.id)
                   .where(AnnualPlan.year == year, PlanItem.status != PlanStatus.DROPPED.value)
                   .group_by(PlanItem.status), PlanItem)
    for status, n in db.session.execute(items):
        stats.plan_total += n
        stats.plan_done += n if status == PlanStatus.DONE.value else 0


#: The tables a report counts, in order: one progress step each in a statistics job.
STEPS = (_count_veterans, _count_services, _count_militia, _count_units, _count_plans)


def stats_xlsx(stats: YearStats) -> bytes:
    import openpyxl  # ~0.25 s to import: only when a workbook is written

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(f"{stats.year}年度统计")
    sheet.append([safe_cell(f"{stats.region.name} {stats.year} 年度统计报表")])
    for table in stats.tables():
        sheet.append([])
        sheet.append([safe_cell(table.title)])
        sheet.append([safe_cell(h) for h in table.headers])
        for row in table.rows:
            sheet.append([safe_cell(c) for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def may_report(scope: Scope, region: Region, action: str) -> bool:
    """May ``scope`` export (or print) the report of ``region``: that right on every counted table there."""
    return all(scope.can(m, action) and scope.covers_path(region.path, action, m) for m in COUNTED)


def report_filename(region_name: str, year: int, extension: str) -> str:
    return f"{region_name}{year}年度统计报表.{extension}"


def report_pdf(stats: YearStats) -> bytes:
    from printables.documents import stats_html
    from printables.render import render_pdf

    return render_pdf(stats_html(stats))


class StatsView(ScopedScreen):
    """年度统计报表 of a region in scope; ``?region=CODE&year=YYYY``. A township's XLSX and PDF are made at
    once; a county's or the city's are background jobs (我的任务), as they count every township."""

    access_model = "Region"

    def _region_and_year(self, action: str = VIEW) -> tuple[Region, int]:
        """The chosen region (default: the widest in scope) and year; 404 outside the scope, and for an
        export or print without that right on every counted table there."""
        scope = current_scope()
        year = militia_year(request.args.get("year"), datetime.date.today().year)
        code = request.args.get("region")
        if not code:
            regions = scope.regions("Region", VIEW, LEVELS)
            if not regions:
                abort(404)
            code = min(regions, key=lambda r: (LEVELS[::-1].index(r.level), r.code)).code
        region = scope.region_or_404(code, "Region", VIEW, LEVELS)
        if action != VIEW and not may_report(scope, region, action):
            abort(404)
        return region, year

    @expose("/")
    def index(self):
        region, year = self._region_and_year()
        stats = year_stats(current_scope(), region, year)
        regions = current_scope().regions("Region", VIEW, LEVELS)
        scope = current_scope()
        return self.render("stats/index.html", stats=stats, tables=stats.tables(), region=region, year=year,
                           regions=regions, may_export=may_report(scope, region, EXPORT),
                           may_print=may_report(scope, region, PRINT), as_job=as_job(region))

    @expose("/export.xlsx", methods=("GET", "POST"))
    def export(self):
        region, year = self._region_and_year(EXPORT)
        if as_job(region):
            return self._queue(region, year, "xlsx")
        stats = year_stats(current_scope(), region, year)
        return _download(stats_xlsx(stats), XLSX_MIMETYPE, report_filename(region.name, year, "xlsx"))

    @expose("/report.pdf", methods=("GET", "POST"))
    def pdf(self):
        from printables.documents import stats_html
        from printables.web import pdf_response

        region, year = self._region_and_year(PRINT)
        if as_job(region):
            return self._queue(region, year, "pdf")
        stats = year_stats(current_scope(), region, year)
        return pdf_response(stats_html(stats), report_filename(region.name, year, "pdf"))

    def _queue(self, region: Region, year: int, extension: str):
        """The report as a job: the GET asks, the POST queues it (or finds the same one unfinished) and
        shows it in 我的任务 (``views.jobs.start_job``)."""
        from .jobs import start_job

        townships = len(current_scope().narrowed_to(region).regions("Region", VIEW))
        return start_job(JobKind.STATISTICS, {"region": region.code, "year": year, "format": extension},
                         title=f"{region.name}{year}年度统计报表({extension.upper()})",
                         size=_("%(n)s 个乡镇(街道)的数据", n=townships),
                         back_url=url_for(".index", region=region.code, year=year), view=self.endpoint)


def as_job(region: Region) -> bool:
    """A county's, a city's (or a province's) report counts every township in it: made as a job."""
    return region.level != RegionLevel.TOWNSHIP.value


#: The report's formats and the right each needs on every counted table.
REPORT_FORMATS = {"xlsx": EXPORT, "pdf": PRINT}
REPORT_SCOPE_MESSAGE = "要统计的区划不在您的授权范围内"
REPORT_DONE_MESSAGE = "已完成:%(region)s %(year)s 年度统计报表"


def run_statistics_job(run) -> None:
    """A county's or the city's year report (``JobKind.STATISTICS``) as XLSX or PDF, in the owner's scope.

    The parameters are checked again as the owner now is (the region in scope, the export or print right
    on every counted table), and the figures are counted through that scope, table by table: one
    progress step per table and one for writing the file."""
    from flask_babel import gettext

    from admin_app.jobs import JobFailed
    from printables.render import PrintEnvironmentError

    params = run.job.params if isinstance(run.job.params, dict) else {}
    extension, year, scope = params.get("format"), params.get("year"), run.scope
    action = REPORT_FORMATS.get(extension)
    region = db.session.scalars(select(Region).where(Region.code == str(params.get("region", ""))[:12])).first()
    if (action is None or region is None or region.level not in LEVELS or not isinstance(year, int)
            or not 2000 <= year <= 2100 or not scope.covers_path(region.path, VIEW, "Region")
            or not may_report(scope, region, action)):
        raise JobFailed(gettext(REPORT_SCOPE_MESSAGE))
    name = region.name
    run.start(len(STEPS) + 1)
    stats = year_stats(scope, region, year, on_step=run.advance)
    try:
        data = stats_xlsx(stats) if extension == "xlsx" else report_pdf(stats)
    except PrintEnvironmentError as exc:
        raise JobFailed(str(exc)) from exc
    run.finish(data, report_filename(name, year, extension), gettext(REPORT_DONE_MESSAGE, region=name, year=year))
