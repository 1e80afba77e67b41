"""Print routes (/print/...) and the 打印 menu screen; every route resolves the region through the scope."""

from __future__ import annotations

import datetime
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, url_for
from flask_admin import BaseView, expose
from flask_login import current_user, login_required
from sqlalchemy import select

from admin_app import privacy
from admin_app.audit_access import record_access
from admin_app.extensions import db
from admin_app.scope import PRINT, current_scope, regions_in_scope
from models import AnnualPlan, MilitiaMembership, Post, Region, VeteranProfile
from models.enums import RegionLevel

from . import documents
from .render import PrintEnvironmentError, render_pdf

bp = Blueprint("printables", __name__, url_prefix="/print", template_folder="templates",
               static_folder="static", static_url_path="/static")

TOWNSHIP = (RegionLevel.TOWNSHIP.value,)
GROUPS = (RegionLevel.CITY.value, RegionLevel.COUNTY.value, RegionLevel.PROVINCE.value)


def resolve_region(code: str, model: type, levels: tuple[str, ...] = TOWNSHIP) -> Region:
    """The region with ``code`` if the user may print ``model`` there, else 404 (existence not revealed)."""
    scope = current_scope()
    if not scope.can(model, PRINT):
        abort(404)
    region = db.session.scalars(select(Region).where(Region.code == code)).first()
    if region is None or region.level not in levels or not scope.covers_path(region.path, PRINT,
                                                                               model.__name__):
        abort(404)
    return region


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
    township = resolve_region(code, Post)
    return pdf_response(documents.org_chart_for(db.session, township), f"{township.name}合署办公架构图.pdf")


@bp.route("/<code>/org-chart.html")
@login_required
def org_chart_preview(code: str):
    township = resolve_region(code, Post)
    return documents.org_chart_for(db.session, township, asset=browser_asset)


@bp.route("/<code>/org-charts.pdf")
@login_required
def org_charts_pdf(code: str):
    """All townships of a county (or the city) in one PDF, one chart each, in code order: a background
    job (it takes minutes at city scale). Queues it, or finds the same one still unfinished, and shows it
    in 我的任务; the worker picks the townships again with the owner's scope when it runs."""
    from flask import flash, redirect

    from admin_app.gate import WriteRefused
    from admin_app.jobs import enqueue, townships_to_print
    from models import JobKind

    group = resolve_region(code, Post, levels=GROUPS)
    if not townships_to_print(current_scope(), group):
        abort(404)
    try:
        job = enqueue(JobKind.ORG_CHARTS, {"region": group.code}, title=f"{group.name}合署办公架构图")
    except WriteRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("print_menu.index"))
    return redirect(url_for("jobs.job", job_id=job.id), code=303)


@bp.route("/<code>/duty-table.pdf")
@login_required
def duty_table_pdf(code: str):
    from models import DutyAdjustment

    township = resolve_region(code, DutyAdjustment)
    return pdf_response(documents.duty_table_html(db.session, township), f"{township.name}职责分工表.pdf")


@bp.route("/<code>/annual-plan/<int:year>.pdf")
@login_required
def annual_plan_pdf(code: str, year: int):
    township = resolve_region(code, AnnualPlan)
    return pdf_response(documents.annual_plan_html(db.session, township, _year(year)),
                        f"{township.name}{year}年度大项工作计划.pdf")


@bp.route("/<code>/veterans.pdf")
@login_required
def veterans_pdf(code: str):
    township = resolve_region(code, VeteranProfile)
    sensitive = may_see_sensitive(VeteranProfile, township)
    html = documents.veterans_html(db.session, township, sensitive)
    record_access("print", "VeteranProfile", _roster_count(html), township.name)
    return pdf_response(html, f"{township.name}退役军人花名册.pdf")


@bp.route("/<code>/militia/<int:year>.pdf")
@login_required
def militia_pdf(code: str, year: int):
    township = resolve_region(code, MilitiaMembership)
    html = documents.militia_html(db.session, township, _year(year),
                                  may_see_sensitive(MilitiaMembership, township))
    record_access("print", "MilitiaMembership", _roster_count(html), f"{township.name} {year}")
    return pdf_response(html, f"{township.name}{year}年度民兵花名册.pdf")


class PrintView(BaseView):
    """打印: the townships (and counties) in the user's scope with their print links."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_scope().can(Post, PRINT)

    def inaccessible_callback(self, name, **kwargs):
        abort(404)

    @expose("/")
    def index(self):
        scope = current_scope()
        townships = regions_in_scope(PRINT, TOWNSHIP, model_name="Post")
        groups = regions_in_scope(PRINT, (RegionLevel.COUNTY.value, RegionLevel.CITY.value), model_name="Post")
        rights = {name: scope.can(name, PRINT) for name in
                  ("Post", "DutyAdjustment", "AnnualPlan", "VeteranProfile", "MilitiaMembership")}
        return self.render("printables/print_index.html", townships=townships, groups=groups, rights=rights,
                           year=datetime.date.today().year)
