"""年度计划进度: turn the city plan template into a township's plan, and follow its progress.

Editing a plan's items is the generated AnnualPlan screen (inline items); this screen adds the
one-click instantiation, progress per month, overdue items and a quick status change.
"""

from __future__ import annotations

import datetime

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from admin_app.extensions import db
from admin_app.scope import CREATE, EDIT, VIEW, current_scope, get_or_404
from models import AnnualPlan, PlanItem, PlanTemplateItem
from models.enums import PlanStatus
from models.plans import find_plan, instantiate_plan, plan_progress, plan_year_error

from .base import STALE_MESSAGE
from .screens import ScopedScreen


def _year(value, default: int | None = None) -> int | None:
    if value in (None, "") and default is not None:
        return default
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class PlanProgressView(ScopedScreen):
    access_model = "AnnualPlan"

    def _overview(self, year: int, error: str | None = None, status: int = 200):
        today = datetime.date.today()
        scope = current_scope()
        rows = []
        for township in current_scope().regions("AnnualPlan"):
            plan = db.session.scalar(scope.filter(
                select(AnnualPlan).where(AnnualPlan.township_id == township.id, AnnualPlan.year == year)
                .options(selectinload(AnnualPlan.items)), AnnualPlan, VIEW))
            progress = plan_progress(plan.items, year, today) if plan else None
            rows.append((township, plan, progress,
                         scope.allows(AnnualPlan(township=township, year=year), CREATE)))
        template_count = len(db.session.scalars(select(PlanTemplateItem.id)).all())
        return self.render("plans/overview.html", rows=rows, year=year, error=error,
                           template_count=template_count), status

    @expose("/")
    def index(self):
        year = _year(request.args.get("year"), datetime.date.today().year)
        message = plan_year_error(year)
        if message:
            return self._overview(datetime.date.today().year, _(message), 400)
        return self._overview(year)

    @expose("/instantiate", methods=["POST"])
    def instantiate(self):
        township = current_scope().region_or_404(request.form.get("code", ""), "AnnualPlan", CREATE)
        year = _year(request.form.get("year"))
        message = plan_year_error(year)
        if message:
            return self._overview(datetime.date.today().year, _(message), 400)
        if not current_scope().allows(AnnualPlan(township=township, year=year), CREATE):
            abort(404)
        plan, created = instantiate_plan(db.session, township, year)
        if created:
            db.session.commit()
            flash(_("已按全市模板生成 %(name)s %(year)s 年度计划(%(n)s 项)", name=township.name, year=year,
                    n=len(plan.items)), "success")
        else:
            flash(_("%(name)s %(year)s 年度计划已存在,未重复生成", name=township.name, year=year), "info")
        return redirect(url_for(".plan", code=township.code, year=year))

    @expose("/<code>/<int:year>/")
    def plan(self, code, year):
        township = current_scope().region_or_404(code, "AnnualPlan", VIEW)
        if plan_year_error(year):
            abort(404)
        return self._plan_page(township, year)

    def _plan_page(self, township, year: int, error: str | None = None, status: int = 200):
        today = datetime.date.today()
        plan = find_plan(db.session, township, year)
        if plan is not None:
            plan = get_or_404(AnnualPlan, plan.id, VIEW)
        progress = plan_progress(plan.items, year, today) if plan else None
        by_month: dict[int, list[PlanItem]] = {m: [] for m in range(1, 13)}
        for item in plan.items if plan else []:
            by_month[item.month].append(item)
        scope = current_scope()
        return self.render("plans/plan.html", township=township, year=year, plan=plan, progress=progress,
                           by_month=by_month, statuses=PlanStatus.choices(), status_label=PlanStatus.label_of,
                           may_edit=plan is not None and scope.allows(plan, EDIT),
                           may_create=scope.allows(AnnualPlan(township=township, year=year), CREATE),
                           today=today, error=error), status

    @expose("/item/<int:item_id>/status", methods=["POST"])
    def item_status(self, item_id):
        item = get_or_404(PlanItem, item_id, EDIT)
        plan = item.plan
        status = request.form.get("status")
        if status not in PlanStatus.labels():
            return self._plan_page(plan.township, plan.year, _("请选择状态"), 400)
        if request.form.get("row_version") and request.form.get("row_version") != str(item.version):
            return self._plan_page(plan.township, plan.year, _(STALE_MESSAGE), 409)
        completed = request.form.get("completed_on") or ""
        try:
            item.completed_on = datetime.date.fromisoformat(completed) if completed else None
        except ValueError:
            db.session.rollback()
            return self._plan_page(plan.township, plan.year, _("完成日期格式应为 年-月-日"), 400)
        item.status = status
        if status == PlanStatus.DONE.value and item.completed_on is None:
            item.completed_on = datetime.date.today()
        note = (request.form.get("note") or "").strip()
        if note:
            item.note = note
        try:
            db.session.commit()
        except StaleDataError:
            # Changed by someone else between our read and our write (the version no longer matched).
            db.session.rollback()
            return self._plan_page(plan.township, plan.year, _(STALE_MESSAGE), 409)
        flash(_("已更新“%(title)s”", title=item.title), "success")
        return redirect(url_for(".plan", code=plan.township.code, year=plan.year))
