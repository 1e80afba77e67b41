"""民兵整组: the reorganisation of each township and year, and the emergency-detachment candidates (rule 8).

* overview (county / city): the 整组 status of every township in scope and the totals;
* a township's year: units with size vs plan, the roster by unit with 待确认 rows to confirm, remove or
  move, the roll-over "按上年名册生成" and the diff of joins and leaves;
* candidates: veterans of the township by 专业特长, age, 军事素养 and "not yet in this year's militia",
  sorted by fit; "编入应急分队" enlists the selected ones with a unit and a role in one write.

Every row is read through ``admin_app.scope``; every write goes through the write gate, which applies
``MilitiaMembership.check()`` (age limits, one membership a year) whatever made the row.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from admin_app import privacy
from admin_app.extensions import db
from admin_app.gate import WriteRefused
from admin_app.scope import CREATE, DELETE, EDIT, VIEW, current_scope, get_or_404
from models import MilitiaMembership, MilitiaUnit, Person, Region
from models.enums import MilitaryRating, MilitiaCategory, MilitiaMemberStatus, MilitiaRole, MilitiaUnitType
from models.militia import (
    REORG_STATUS_LABELS,
    candidates,
    memberships_of,
    reorg_status,
    rollover,
    roster_diff,
    unit_sizes,
    units_of,
)

from .base import STALE_MESSAGE
from .screens import ScopedScreen

MODEL = "MilitiaMembership"


def militia_year(value, default: int | None = None) -> int:
    """A reorganisation year from the URL or a form; 404 outside 2000–2100."""
    if value in (None, "") and default is not None:
        return default
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        abort(404)
    if not 2000 <= year <= 2100:
        abort(404)
    return year


@dataclass
class TownshipFigures:
    """One township's roster figures for a year (everything counted through the scope)."""

    township: Region
    total: int = 0
    pending: int = 0
    core: int = 0
    ordinary: int = 0
    emergency: int = 0
    units: int = 0
    planned: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return reorg_status(self.total, self.pending)

    @property
    def status_label(self) -> str:
        return REORG_STATUS_LABELS[self.status]


def reorg_figures(scope, townships: list[Region], year: int) -> list[TownshipFigures]:
    """Per township: members by category, unit kind and status; units and planned size."""
    figures = {t.id: TownshipFigures(t) for t in townships}
    stmt = scope.filter(
        select(MilitiaMembership.township_id, MilitiaMembership.category, MilitiaMembership.unit_type,
               MilitiaMembership.status, func.count())
        .where(MilitiaMembership.year == year, MilitiaMembership.township_id.in_(list(figures)))
        .group_by(MilitiaMembership.township_id, MilitiaMembership.category, MilitiaMembership.unit_type,
                  MilitiaMembership.status), MilitiaMembership, VIEW)
    for township_id, category, unit_type, status, n in db.session.execute(stmt):
        f = figures[township_id]
        f.total += n
        f.pending += n if status == MilitiaMemberStatus.PENDING.value else 0
        f.core += n if category == MilitiaCategory.CORE.value else 0
        f.ordinary += n if category == MilitiaCategory.ORDINARY.value else 0
        f.emergency += n if unit_type == MilitiaUnitType.EMERGENCY.value else 0
        f.by_kind[unit_type] = f.by_kind.get(unit_type, 0) + n
    units = scope.filter(
        select(MilitiaUnit.township_id, func.count(), func.coalesce(func.sum(MilitiaUnit.planned_size), 0))
        .where(MilitiaUnit.year == year, MilitiaUnit.township_id.in_(list(figures)))
        .group_by(MilitiaUnit.township_id), MilitiaUnit, VIEW)
    for township_id, n, planned in db.session.execute(units):
        figures[township_id].units, figures[township_id].planned = n, int(planned or 0)
    return [figures[t.id] for t in townships]


def unit_rows(units: list[MilitiaUnit], members: list[MilitiaMembership]) -> list[dict]:
    """Units in tree order (parents first) with their depth, members and size vs plan."""
    by_unit: dict[int | None, list[MilitiaMembership]] = {}
    for m in members:
        by_unit.setdefault(m.unit_id, []).append(m)
    children: dict[int | None, list[MilitiaUnit]] = {}
    ids = {u.id for u in units}
    for u in units:
        children.setdefault(u.parent_id if u.parent_id in ids else None, []).append(u)
    rows: list[dict] = []
    sizes = unit_sizes(units, {uid: len(ms) for uid, ms in by_unit.items() if uid is not None})

    def walk(parent_id, depth):
        for u in children.get(parent_id, []):
            size = sizes.get(u.id, 0)
            rows.append({"unit": u, "depth": depth, "members": by_unit.get(u.id, []), "size": size,
                         "gap": (u.planned_size - size) if u.planned_size is not None else None})
            walk(u.id, depth + 1)

    walk(None, 0)
    if by_unit.get(None):
        rows.append({"unit": None, "depth": 0, "members": by_unit[None], "size": len(by_unit[None]), "gap": None})
    return rows


def _keywords(text: str) -> list[str]:
    return [k for k in re.split(r"[\s,,、;;]+", text or "") if k][:10]


def _int(value, default: int, low: int = 0, high: int = 120) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return min(max(number, low), high)


class MilitiaView(ScopedScreen):
    """民兵整组: overview, a township's year, roll-over, confirm / remove / move, candidates."""

    access_model = MODEL

    # -- overview ---------------------------------------------------------------------------------------
    @expose("/")
    def index(self):
        year = militia_year(request.args.get("year"), datetime.date.today().year)
        scope = current_scope()
        rows = reorg_figures(scope, scope.regions(MODEL), year)
        totals = TownshipFigures(None)  # type: ignore[arg-type]
        for f in rows:
            for key in ("total", "pending", "core", "ordinary", "emergency", "units", "planned"):
                setattr(totals, key, getattr(totals, key) + getattr(f, key))
        counts = {key: sum(1 for f in rows if f.status == key) for key in REORG_STATUS_LABELS}
        return self.render("militia/overview.html", rows=rows, totals=totals, year=year, counts=counts,
                           status_labels=REORG_STATUS_LABELS)

    # -- one township and year ----------------------------------------------------------------------------
    @expose("/<code>/<int:year>/")
    def township(self, code, year):
        scope = current_scope()
        township = scope.region_or_404(code, MODEL, VIEW)
        year = militia_year(year)
        units = [u for u in units_of(db.session, township, year) if scope.allows(u, VIEW)]
        members = [m for m in memberships_of(db.session, township, year) if scope.allows(m, VIEW)]
        diff = roster_diff(db.session, township, year)
        sensitive = privacy.may_see(MilitiaMembership, township)
        may_edit = scope.can(MODEL, EDIT) and scope.covers_path(township.path, EDIT, MODEL)
        last_year = memberships_of(db.session, township, year - 1)
        return self.render(
            "militia/township.html", township=township, year=year, rows=unit_rows(units, members),
            units=units, members=members, diff=diff, last_year_count=len(last_year),
            pending=sum(1 for m in members if m.status == MilitiaMemberStatus.PENDING.value),
            status=REORG_STATUS_LABELS[reorg_status(len(members), sum(
                1 for m in members if m.status == MilitiaMemberStatus.PENDING.value))],
            may_edit=may_edit, may_create=scope.can(MODEL, CREATE) and scope.covers_path(township.path, CREATE, MODEL),
            may_delete=scope.can(MODEL, DELETE) and scope.covers_path(township.path, DELETE, MODEL), sensitive=sensitive, privacy=privacy, Person=Person,
            categories=MilitiaCategory.choices(), roles=MilitiaRole.choices(),
            kind_label=MilitiaUnitType.label_of, category_label=MilitiaCategory.label_of,
            role_label=MilitiaRole.label_of, status_label=MilitiaMemberStatus.label_of,
            pending_value=MilitiaMemberStatus.PENDING.value)

    def _back(self, township: Region, year: int, anchor: str = ""):
        return redirect(url_for(".township", code=township.code, year=year) + anchor, code=303)

    def _commit(self, success: str) -> bool:
        try:
            db.session.commit()
        except WriteRefused as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return False
        except StaleDataError:
            db.session.rollback()
            flash(_(STALE_MESSAGE), "error")
            return False
        flash(success, "success")
        return True

    @expose("/<code>/<int:year>/rollover", methods=["POST"])
    def rollover(self, code, year):
        scope = current_scope()
        township = scope.region_or_404(code, MODEL, CREATE)
        year = militia_year(year)
        result = rollover(db.session, township, year - 1, year)
        if not result.created and not result.units_created:
            db.session.rollback()
            flash(_("%(year)s 年度名册中没有可转入的人员(已转入 %(n)s 人)", year=year - 1, n=result.already), "info")
            return self._back(township, year)
        self._commit(_("已按 %(last)s 年度名册生成 %(n)s 人(待确认),新建单位 %(u)s 个;未转入 %(left)s 人",
                       last=year - 1, n=len(result.created), u=len(result.units_created),
                       left=len(result.left_out)))
        return self._back(township, year)

    @expose("/<code>/<int:year>/confirm-all", methods=["POST"])
    def confirm_all(self, code, year):
        scope = current_scope()
        township = scope.region_or_404(code, MODEL, EDIT)
        year = militia_year(year)
        pending = [m for m in memberships_of(db.session, township, year)
                   if m.status == MilitiaMemberStatus.PENDING.value and not m.review_note]
        for m in pending:
            m.status = MilitiaMemberStatus.CONFIRMED.value
        self._commit(_("已确认 %(n)s 人(有整组提示的人员请逐一核实后确认)", n=len(pending)))
        return self._back(township, year)

    @expose("/membership/<int:ident>", methods=["POST"])
    def membership(self, ident):
        """确认 / 移出名册 / 调整 (unit, category, role) of one membership."""
        action = request.form.get("action")
        m = get_or_404(MilitiaMembership, ident, DELETE if action == "remove" else EDIT)
        township, year, name = m.township, m.year, m.person.name
        posted = request.form.get("row_version")
        if posted and posted != str(m.version):
            flash(_(STALE_MESSAGE), "error")
            return self._back(township, year)
        if action == "remove":
            db.session.delete(m)
            self._commit(_("已将 %(name)s 移出 %(year)s 年度名册", name=name, year=year))
            return self._back(township, year)
        if action not in ("confirm", "move"):
            abort(400)
        unit_id = request.form.get("unit_id")
        if unit_id is not None:
            unit = get_or_404(MilitiaUnit, unit_id, VIEW) if unit_id else None
            if unit is not None and unit.township_id != m.township_id:
                abort(404)
            m.unit = unit
            if unit is not None:
                m.unit_type = unit.kind
        if request.form.get("category") in MilitiaCategory.labels():
            m.category = request.form["category"]
        if request.form.get("role") in MilitiaRole.labels():
            m.role = request.form["role"]
        if action == "confirm":
            m.status = MilitiaMemberStatus.CONFIRMED.value
            m.review_note = None
        self._commit(_("已确认 %(name)s", name=name) if action == "confirm" else _("已调整 %(name)s", name=name))
        return self._back(township, year)

    # -- candidates for the emergency detachment (rule 8) ---------------------------------------------
    def _candidate_args(self, year: int) -> dict:
        args = request.values
        low = _int(args.get("min_age"), 18, 14, 80)
        high = _int(args.get("max_age"), 35, 14, 80)
        rating = args.get("rating") or None
        return {"keywords": _keywords(args.get("keywords", "")), "min_age": low, "max_age": max(low, high),
                "min_rating": rating if rating in MilitaryRating.labels() else None,
                "exclude_members": args.get("include_members") not in ("1", "on")}

    @expose("/<code>/<int:year>/candidates")
    def candidates(self, code, year):
        scope = current_scope()
        township = scope.region_or_404(code, MODEL, VIEW)
        scope.region_or_404(code, "VeteranProfile", VIEW)
        year = militia_year(year)
        filters = self._candidate_args(year)
        found = candidates(db.session, township, year, scope_filter=lambda s, model: scope.filter(s, model, VIEW),
                           **filters)
        units = [u for u in units_of(db.session, township, year)
                 if u.kind == MilitiaUnitType.EMERGENCY.value and scope.allows(u, VIEW)]
        probe_ok = scope.can(MODEL, CREATE) and scope.covers_path(township.path, CREATE, MODEL)
        return self.render(
            "militia/candidates.html", township=township, year=year, found=found, filters=filters,
            keywords=" ".join(filters["keywords"]), units=units, roles=MilitiaRole.choices(),
            ratings=MilitaryRating.choices(), rating_label=MilitaryRating.label_of, may_enlist=probe_ok,
            sensitive=privacy.may_see("VeteranProfile", township), privacy=privacy, Person=Person,
            category_label=MilitiaCategory.label_of)

    @expose("/<code>/<int:year>/enlist", methods=["POST"])
    def enlist(self, code, year):
        """编入应急分队: the selected veterans, one unit and role, in one write (all or nothing)."""
        scope = current_scope()
        township = scope.region_or_404(code, MODEL, CREATE)
        year = militia_year(year)
        unit = get_or_404(MilitiaUnit, request.form.get("unit_id"), VIEW)
        if unit.township_id != township.id or unit.year != year:
            abort(404)
        if unit.kind != MilitiaUnitType.EMERGENCY.value:
            abort(400)
        role = request.form.get("role") or MilitiaRole.MEMBER.value
        if role not in MilitiaRole.labels():
            abort(400)
        ids = list(dict.fromkeys(request.form.getlist("person_id")))
        back = redirect(url_for(".candidates", code=township.code, year=year), code=303)
        if not ids:
            flash(_("请先勾选要编入的人员"), "error")
            return back
        people = [get_or_404(Person, pid, VIEW) for pid in ids]
        for person in people:
            db.session.add(MilitiaMembership(
                person=person, township=township, year=year, category=MilitiaCategory.CORE.value, unit=unit,
                unit_type=unit.kind, role=role, status=MilitiaMemberStatus.CONFIRMED.value))
        if not self._commit(_("已将 %(names)s 编入“%(unit)s”", names="、".join(p.name for p in people),
                              unit=unit.name)):
            return back
        return self._back(township, year)


def village_rule_warnings(township: Region) -> list[str]:
    """Rule 3 problems of a township's villages (template global for the duty and print screens; the
    caller has already resolved ``township`` through the scope)."""
    from models.village import village_rule_problems

    return village_rule_problems(db.session, township)
