"""The /admin/ home: figures of the user's scope, plan completion chart, adjustments ranking.

Every figure is one query filtered by ``admin_app.scope`` (``Scope.filter``); comparisons between
counties or townships intersect the user's scope with a scope limited to that unit.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session, selectinload

from admin_app.extensions import db
from admin_app.scope import VIEW, GrantView, Scope, current_scope
from models import (
    AnnualPlan,
    Appointment,
    DutyAdjustment,
    MilitiaMembership,
    Post,
    PostType,
    Region,
    VeteranProfile,
)
from models.enums import RegionLevel, Role
from models.plans import plan_progress


def half_year_start(today: datetime.date) -> datetime.date:
    return datetime.date(today.year, 1 if today.month <= 6 else 7, 1)


class _UnitScope(Scope):
    """Rows under one region, whatever the rights table says: only ever intersected with the user's."""

    def _grants_allowing(self, model_name: str, action: str) -> list[GrantView]:
        return list(self.grants)


def unit_scope(unit: Region) -> Scope:
    """A read scope over ``unit`` and everything under it (used to split figures by unit)."""
    return _UnitScope(grants=[GrantView(Role.VIEWER.value, unit.path, unit.id, False)])


class _Filter:
    """The user's scope, optionally intersected with one unit's."""

    def __init__(self, scope: Scope, unit: Region | None):
        self.scope, self.unit = scope, unit

    def __call__(self, stmt, model):
        stmt = self.scope.filter(stmt, model, VIEW)
        if self.unit is not None:
            stmt = unit_scope(self.unit).filter(stmt, model, VIEW)
        return stmt


@dataclass
class Figures:
    staff: int = 0
    veterans: int = 0
    militia: int = 0
    posts: int = 0
    vacant_posts: int = 0  # fewer current holders than the headcount
    empty_posts: int = 0  # no current holder at all
    reported_home: int = 0  # veterans who reported home this half-year
    adjustments: int = 0
    plan_percent: int | None = None
    plan_overdue: int = 0


def _current(day: datetime.date):
    return (Appointment.start_on <= day) & or_(Appointment.end_on.is_(None), Appointment.end_on >= day)


def dashboard_figures(session: Session, scope: Scope, today: datetime.date,
                      unit: Region | None = None) -> Figures:
    """The headline figures inside ``scope`` (and under ``unit`` when given) on ``today``."""
    f = _Filter(scope, unit)
    fig = Figures()
    fig.staff = session.scalar(f(select(func.count(distinct(Appointment.person_id)))
                                 .where(_current(today)), Appointment)) or 0
    fig.veterans = session.scalar(f(select(func.count(VeteranProfile.id)), VeteranProfile)) or 0
    fig.militia = session.scalar(f(select(func.count(distinct(MilitiaMembership.person_id)))
                                   .where(MilitiaMembership.year == today.year), MilitiaMembership)) or 0
    fig.reported_home = session.scalar(f(select(func.count(VeteranProfile.id)).where(
        VeteranProfile.reported_home_on >= half_year_start(today),
        VeteranProfile.reported_home_on <= today), VeteranProfile)) or 0
    holders = (select(Appointment.post_id, func.count(Appointment.id).label("n"))
               .where(_current(today)).group_by(Appointment.post_id).subquery())
    posts = session.execute(f(select(PostType.headcount, func.coalesce(holders.c.n, 0))
                              .select_from(Post).join(PostType, Post.post_type_id == PostType.id)
                              .outerjoin(holders, holders.c.post_id == Post.id), Post)).all()
    fig.posts = len(posts)
    fig.vacant_posts = sum(1 for headcount, n in posts if n < max(headcount, 1))
    fig.empty_posts = sum(1 for _headcount, n in posts if n == 0)
    fig.adjustments = session.scalar(f(select(func.count(DutyAdjustment.id)), DutyAdjustment)) or 0
    plans = session.scalars(f(select(AnnualPlan).where(AnnualPlan.year == today.year)
                              .options(selectinload(AnnualPlan.items)), AnnualPlan)).all()
    progress = plan_progress([i for p in plans for i in p.items], today.year, today)
    fig.plan_percent, fig.plan_overdue = progress.percent, progress.overdue
    return fig


def plan_completion(session: Session, scope: Scope, today: datetime.date) -> list[tuple[Region, int | None]]:
    """(township, completion % of this year's plan; None without a plan or items) per township."""
    stmt = select(Region).where(Region.level == RegionLevel.TOWNSHIP.value).order_by(Region.code)
    ids = scope.region_ids(VIEW, "AnnualPlan")
    if ids is not None:
        stmt = stmt.where(Region.id.in_(ids))
    townships = session.scalars(stmt).all()
    plans = {p.township_id: p for p in session.scalars(scope.filter(
        select(AnnualPlan).where(AnnualPlan.year == today.year).options(selectinload(AnnualPlan.items)),
        AnnualPlan, VIEW))}
    out = []
    for township in townships:
        plan = plans.get(township.id)
        out.append((township, plan_progress(plan.items, today.year, today).percent if plan else None))
    return out


def adjustment_ranking(session: Session, scope: Scope, limit: int = 10) -> list[tuple[Region, int]]:
    stmt = scope.filter(select(DutyAdjustment.township_id, func.count(DutyAdjustment.id).label("n"))
                        .group_by(DutyAdjustment.township_id), DutyAdjustment, VIEW)
    counts = session.execute(stmt.order_by(func.count(DutyAdjustment.id).desc(), DutyAdjustment.township_id)
                             .limit(limit)).all()
    regions = {r.id: r for r in session.scalars(select(Region).where(Region.id.in_([c[0] for c in counts])))}
    return [(regions[tid], n) for tid, n in counts]


@dataclass
class Bar:
    label: str
    value: int | None
    y: int
    width: float


@dataclass
class BarChart:
    """Geometry of a horizontal percentage bar chart, drawn as inline SVG by the template."""

    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar] = field(default_factory=list)

    @property
    def plot_width(self) -> int:
        return self.width - self.label_width - 50


def bar_chart(rows: list[tuple[str, int | None]], width: int = 640, bar_height: int = 18,
              gap: int = 6, label_width: int = 110) -> BarChart:
    chart = BarChart(width, 24 + len(rows) * (bar_height + gap), label_width, bar_height)
    for i, (label, value) in enumerate(rows):
        pct = max(0, min(100, value or 0))
        chart.bars.append(Bar(label, value, 20 + i * (bar_height + gap), chart.plot_width * pct / 100))
    return chart


def comparison_units(scope: Scope, session: Session) -> list[Region]:
    """What the home page compares: counties for a city-wide user, townships for a county user."""
    if scope.is_global:
        return session.scalars(select(Region).where(Region.level == RegionLevel.COUNTY.value)
                               .order_by(Region.code)).all()
    ids = scope.region_ids(VIEW, "Region")
    if ids is None:
        return []
    counties = session.scalars(select(Region).where(Region.id.in_(ids),
                                                    Region.level == RegionLevel.COUNTY.value)).all()
    if not counties:
        return []
    return session.scalars(select(Region).where(Region.level == RegionLevel.TOWNSHIP.value,
                                                Region.id.in_(ids)).order_by(Region.code)).all()


def dashboard_page(view):
    today = datetime.date.today()
    scope = current_scope()
    if not scope.grants:
        return view.render("dashboard/home.html", no_grant=True, today=today)
    session = db.session
    figures = dashboard_figures(session, scope, today)
    completion = plan_completion(session, scope, today)
    chart = bar_chart([(t.name, pct) for t, pct in completion])
    units = [(u, dashboard_figures(session, scope, today, unit=u)) for u in comparison_units(scope, session)]
    return view.render("dashboard/home.html", figures=figures, chart=chart, units=units,
                       ranking=adjustment_ranking(session, scope), today=today,
                       half_start=half_year_start(today))
