"""Print routes (/print/...) and the 打印 menu screen; every route resolves the region through the scope."""

from __future__ import annotations

import datetime
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, url_for
from flask_admin import expose
from flask_login import login_required

from admin_app import privacy
from admin_app.audit import record_access
from admin_app.extensions import db
from admin_app.scope import PRINT, current_scope, regions_in_scope
from models import AnnualPlan, MilitiaMembership, Post, Region, VeteranProfile
from models.enums import RegionLevel
from views.screens import ScopedScreen  # noqa: E402 - the one base of hand-made screens

from . import documents
from .render import PrintEnvironmentError, render_pdf

bp = Blueprint("printables", __name__, url_prefix="/print", template_folder="templates",
               static_folder="static", static_url_path="/static")

TOWNSHIP = (RegionLevel.TOWNSHIP.value,)
GROUPS = (RegionLevel.CITY.value, RegionLevel.COUNTY.value, RegionLevel.PROVINCE.value)


def may_see_sensitive(model: type, region: Region) -> bool:
    return privacy.may_see(model, region)  # the one policy: admin_app/privacy.py


def _roster_count(html: str) -> int:
    """Rows of a rendered roster (each starts with its number cell), for the access audit."""
    return html.count('<tr><td class="c">')


def pdf_response(html: str, filename: str) -> Response:
    try:
        data = render_pdf(html)
    except PrintEnvironmentError as exc:
        return Response(render_template("printables/unavailable.html", message=str(exc)), status=503,
                        mimetype="text/html")
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _year(year: int) -> int:
    if not 2000 <= year <= 2100:
        abort(404)
    return year


def browser_asset(name: str) -> str:
    return url_for("printables.static", filename=name)


@bp.route("/<code>/org-chart.pdf")
@login_required
def org_chart_pdf(code: str):
    township = current_scope().region_or_404(code, Post.__name__, PRINT)
    return pdf_response(documents.org_chart_for(db.session, township), f"{township.name}合署办公架构图.pdf")


@bp.route("/<code>/org-chart.html")
@login_required
def org_chart_preview(code: str):
    township = current_scope().region_or_404(code, Post.__name__, PRINT)
    return documents.org_chart_for(db.session, township, asset=browser_asset)


@bp.route("/<code>/org-charts.pdf", methods=("GET", "POST"))
@login_required
def org_charts_pdf(code: str):
    """All townships of a county (or the city) in one PDF, one chart each, in code order: a background
    job (it takes minutes at city scale). The GET asks, the POST queues it (or finds the same one still
    unfinished) and shows it in 我的任务 (``views.jobs.start_job``); the worker picks the townships again
    with the owner's scope when it runs."""
    from flask_babel import gettext as _

    from admin_app.jobs import townships_to_print
    from models import JobKind
    from views.jobs import start_job

    group = current_scope().region_or_404(code, Post.__name__, PRINT, GROUPS)
    townships = townships_to_print(current_scope(), group)
    if not townships:
        abort(404)
    return start_job(JobKind.ORG_CHARTS, {"region": group.code}, title=f"{group.name}合署办公架构图",
                     size=_("%(n)s 个乡镇(街道)的架构图,每个一页", n=len(townships)),
                     back_url=url_for("print_menu.index"), view="print_menu")


@bp.route("/<code>/duty-table.pdf")
@login_required
def duty_table_pdf(code: str):
    from models import DutyAdjustment

    township = current_scope().region_or_404(code, DutyAdjustment.__name__, PRINT)
    return pdf_response(documents.duty_table_html(db.session, township), f"{township.name}职责分工表.pdf")


@bp.route("/<code>/annual-plan/<int:year>.pdf")
@login_required
def annual_plan_pdf(code: str, year: int):
    township = current_scope().region_or_404(code, AnnualPlan.__name__, PRINT)
    return pdf_response(documents.annual_plan_html(db.session, township, _year(year)),
                        f"{township.name}{year}年度大项工作计划.pdf")


@bp.route("/<code>/veterans.pdf")
@login_required
def veterans_pdf(code: str):
    township = current_scope().region_or_404(code, VeteranProfile.__name__, PRINT)
    sensitive = may_see_sensitive(VeteranProfile, township)
    html = documents.veterans_html(db.session, township, sensitive)
    record_access("print", "VeteranProfile", _roster_count(html), township.name)
    return pdf_response(html, f"{township.name}退役军人花名册.pdf")


@bp.route("/<code>/militia/<int:year>.pdf")
@login_required
def militia_pdf(code: str, year: int):
    township = current_scope().region_or_404(code, MilitiaMembership.__name__, PRINT)
    html = documents.militia_html(db.session, township, _year(year),
                                  may_see_sensitive(MilitiaMembership, township))
    record_access("print", "MilitiaMembership", _roster_count(html), f"{township.name} {year}")
    return pdf_response(html, f"{township.name}{year}年度民兵花名册.pdf")


@bp.route("/<code>/militia/<int:year>/units.pdf")
@login_required
def militia_units_pdf(code: str, year: int):
    """The year's roster by unit (民兵整组), masked per the privacy policy."""
    township = current_scope().region_or_404(code, MilitiaMembership.__name__, PRINT)
    html = documents.militia_units_html(db.session, township, _year(year),
                                        may_see_sensitive(MilitiaMembership, township))
    record_access("print", "MilitiaMembership", _roster_count(html), f"{township.name} {year} 按单位")
    return pdf_response(html, f"{township.name}{year}年度民兵名册(按单位).pdf")


@bp.route("/<code>/militia/<int:year>/emergency.pdf")
@login_required
def emergency_roster_pdf(code: str, year: int):
    """The emergency detachment's roster with 专业特长 and veteran status (rule 8)."""
    scope = current_scope()
    township = scope.region_or_404(code, MilitiaMembership.__name__, PRINT)
    scope.region_or_404(code, VeteranProfile.__name__, PRINT)  # it shows veterans' data too
    sensitive = may_see_sensitive(MilitiaMembership, township) and may_see_sensitive(VeteranProfile, township)
    html = documents.emergency_roster_html(db.session, township, _year(year), sensitive)
    record_access("print", "MilitiaMembership", _roster_count(html), f"{township.name} {year} 应急分队")
    return pdf_response(html, f"{township.name}{year}年度民兵应急分队名册.pdf")


@bp.route("/<code>/signs.pdf")
@login_required
def door_signs_pdf(code: str):
    """功能厅室与服务窗口 door and window signs (rule 4)."""
    scope = current_scope()
    township = scope.region_or_404(code, "Room", PRINT)
    scope.region_or_404(code, "ServiceWindow", PRINT)
    return pdf_response(documents.door_signs_html(db.session, township), f"{township.name}厅室窗口标牌.pdf")


class PrintView(ScopedScreen):
    """打印: the townships (and counties) in the user's scope with their print links."""

    access_model, access_action = "Post", PRINT

    @expose("/")
    def index(self):
        scope = current_scope()
        townships = regions_in_scope(PRINT, TOWNSHIP, model_name="Post")
        groups = regions_in_scope(PRINT, (RegionLevel.COUNTY.value, RegionLevel.CITY.value), model_name="Post")
        rights = {name: scope.can(name, PRINT) for name in
                  ("Post", "DutyAdjustment", "AnnualPlan", "VeteranProfile", "MilitiaMembership", "Room",
                   "ServiceWindow")}
        from models.village import village_rule_problems

        warnings = {t.id: village_rule_problems(db.session, t) for t in townships}
        return self.render("printables/print_index.html", townships=townships, groups=groups, rights=rights,
                           year=datetime.date.today().year, warnings=warnings)


@bp.route("/intake/<int:record_id>/receipt.pdf")
@login_required
def intake_receipt_pdf(record_id: int):
    """返乡报到回执 of one 返乡报到 service record (views/intake.py), through the one renderer."""
    from admin_app.scope import get_or_404
    from models import ServiceRecord
    from models.enums import ServiceKind
    from models.idnumber import mask_id_number

    if not current_scope().can(ServiceRecord, PRINT):
        abort(404)
    record = get_or_404(ServiceRecord, record_id, PRINT)
    if record.kind != ServiceKind.REPORT_HOME.value:
        abort(404)
    township, person = record.township, record.person
    sensitive = may_see_sensitive(ServiceRecord, township)
    profile = person.veteran_profile
    now = datetime.datetime.now()
    html = render_template(
        "printables/receipt.html", title="退役军人返乡报到回执", asset=documents.asset_url, page_size="A5",
        margin_mm=12, number=f"{township.code}-{record.served_on:%Y%m%d}-{record.id:06d}", name=person.name,
        id_number=person.id_number if sensitive else mask_id_number(person.id_number), sensitive=sensitive,
        region=person.region.name if person.region else "", discharged_on=profile.discharged_on if profile else None,
        served_on=record.served_on, window=record.window.name if record.window else "",
        handler=record.handler.name if record.handler else (record.handler_note or ""), notes=record.notes,
        township=township.name, footer_text="", read_at=now, printed_on=now.date())
    record_access("print", "ServiceRecord", 1, f"{township.name} 返乡报到回执")
    return pdf_response(html, f"{person.name}返乡报到回执.pdf")
