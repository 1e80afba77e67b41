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
from admin_app.scope import VIEW, Scope, current_scope
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
from models.enums import RegionLevel
from models.plans import plan_progress


def half_year_start(today: datetime.date) -> datetime.date:
    return datetime.date(today.year, 1 if today.month <= 6 else 7, 1)


class _Filter:
    """The user's scope, optionally intersected with one unit's."""

    def __init__(self, scope: Scope, unit: Region | None):
        self.scope, self.unit = scope, unit

    def __call__(self, stmt, model):
        scope = self.scope if self.unit is None else self.scope.narrowed_to(self.unit)
        return scope.filter(stmt, model, VIEW)


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
    # 89 townships would make an 89-bar chart (a 6,000-px page): past CHART_MAX, one bar per county and
    # each county's townships below it, the lowest first, the rest behind 全部.
    counties = group_by_county(session, scope, today, completion) if len(completion) > CHART_MAX else []
    if counties:
        chart = bar_chart([(g.county.name, g.percent) for g in counties])
    else:
        chart = bar_chart([(t.name, pct) for t, pct in completion])
    units = [(u, dashboard_figures(session, scope, today, unit=u)) for u in comparison_units(scope, session)]
    return view.render("dashboard/home.html", figures=figures, chart=chart, units=units, counties=counties,
                       ranking=adjustment_ranking(session, scope), today=today,
                       half_start=half_year_start(today), links=card_links(today),
                       todo=todo_list(session, scope, today))


# -- where each figure leads: the filtered lists it counts ------------------------------------------
def list_url(endpoint: str, *filters: tuple[str, str, object]) -> str | None:
    """The URL of a generated list with ``(column, operation, value)`` filters applied (operation: "equal"
    or "between"), as the list's own filter bar writes it; None when the user may not open that list."""
    from flask import current_app, has_request_context, url_for
    from flask_admin.contrib.sqla import filters as sqla_filters

    if not has_request_context():
        return None
    kinds = {"equal": sqla_filters.FilterEqual,
             "between": (sqla_filters.DateBetweenFilter, sqla_filters.DateTimeBetweenFilter)}
    view = next((v for v in current_app.extensions["admin"][0]._views
                 if getattr(v, "endpoint", None) == endpoint), None)
    if view is None or not view.is_accessible():
        return None
    args = {}
    for n, (column, operation, value) in enumerate(filters):
        for i, flt in enumerate(view._filters or []):
            if getattr(getattr(flt, "column", None), "key", None) == column and isinstance(flt, kinds[operation]):
                args[f"flt{n}_{view.get_filter_arg(i, flt)}"] = value
                break
    return url_for(f"{endpoint}.index_view", **args)


def card_links(today: datetime.date) -> dict[str, str | None]:
    """Card → the list that holds exactly the rows it counts (or the to-do group explaining it)."""
    half = half_year_start(today)
    return {
        "staff": list_url("appointment"),
        "veterans": list_url("veteran_profile"),
        "militia": list_url("militia_membership", ("year", "equal", today.year)),
        "vacant_posts": "#todo-vacancies",
        "reported_home": list_url("veteran_profile", ("reported_home_on", "between",
                                                      f"{half.isoformat()} to {today.isoformat()}")),
        "plan": list_url("plan_item"),
        "overdue": "#todo-overdue",
    }


# -- the to-do list: what needs the user's attention, each line linking to its row ---------------------
TODO_LIMIT = 8  # lines shown per group; the group's link leads to all of them


@dataclass
class TodoGroup:
    key: str
    title: str
    count: int
    items: list[tuple[str, str | None, str]]  # (text, link, note)
    more_url: str | None = None


def _details(endpoint: str, ident: int) -> str | None:
    from flask import url_for

    try:
        return url_for(f"{endpoint}.details_view", id=ident)
    except Exception:  # noqa: BLE001 - a screen that is not registered: the line shows without a link
        return None


def overdue_plan_items(session: Session, scope: Scope, today: datetime.date) -> list:
    """This year's plan items past their month and neither done nor dropped, inside the scope."""
    from models import PlanItem
    from models.plans import item_overdue

    rows = session.scalars(scope.filter(
        select(PlanItem).join(AnnualPlan, PlanItem.plan_id == AnnualPlan.id)
        .where(AnnualPlan.year == today.year).order_by(PlanItem.month, PlanItem.id), PlanItem, VIEW)).all()
    return [i for i in rows if item_overdue(i.month, i.status, today.year, today)]


def vacant_posts(session: Session, scope: Scope, today: datetime.date) -> list[tuple[Post, int, int]]:
    """(post, current holders, headcount) of posts with fewer current holders than their headcount."""
    holders = (select(Appointment.post_id, func.count(Appointment.id).label("n"))
               .where(_current(today)).group_by(Appointment.post_id).subquery())
    rows = session.execute(scope.filter(
        select(Post, PostType.headcount, func.coalesce(holders.c.n, 0))
        .join(PostType, Post.post_type_id == PostType.id)
        .outerjoin(holders, holders.c.post_id == Post.id).order_by(Post.region_id, Post.id), Post, VIEW)).all()
    return [(post, n, headcount) for post, headcount, n in rows if n < max(headcount, 1)]


def todo_list(session: Session, scope: Scope, today: datetime.date) -> list[TodoGroup]:
    """The user's to-do list: overdue plan items, open service records, vacancies, adjustments whose
    template line changed (模板已更新), pending transfers — every query through the scope."""
    from flask import url_for
    from flask_babel import gettext as _

    from models import Duty, DutyTemplateEntry, ServiceRecord
    from models.enums import PlanStatus, ServiceKind, ServiceStatus

    groups: list[TodoGroup] = []
    overdue = overdue_plan_items(session, scope, today)
    groups.append(TodoGroup("overdue", _("逾期的计划事项"), len(overdue), [
        (f"{i.month}月 {i.title}", _details("plan_item", i.id), _(PlanStatus.label_of(i.status)))
        for i in overdue[:TODO_LIMIT]], list_url("plan_item")))

    open_states = (ServiceStatus.OPEN.value, ServiceStatus.IN_PROGRESS.value)
    stmt = scope.filter(select(ServiceRecord).where(ServiceRecord.status.in_(open_states)), ServiceRecord, VIEW)
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    records = session.scalars(stmt.order_by(ServiceRecord.due_on.is_(None), ServiceRecord.due_on,
                                            ServiceRecord.served_on, ServiceRecord.id).limit(TODO_LIMIT)).all()
    groups.append(TodoGroup("services", _("未办结的服务事项"), count, [
        (f"{_(ServiceKind.label_of(r.kind))} {r.person.name if r.person else ''}", _details("service_record", r.id),
         (_("%(d)s 到期", d=r.due_on.isoformat()) if r.due_on else "")
         + (" " + _("已逾期") if r.due_on is not None and r.due_on < today else ""))
        for r in records], list_url("service_record", ("status", "equal", ServiceStatus.OPEN.value))))

    vacancies = vacant_posts(session, scope, today)
    groups.append(TodoGroup("vacancies", _("空缺岗位"), len(vacancies), [
        (f"{p.region.name if p.region else ''} {p.title}", _details("post", p.id),
         _("在岗 %(n)s / 编制 %(h)s", n=n, h=max(h, 1))) for p, n, h in vacancies[:TODO_LIMIT]],
        list_url("post")))

    # The same rule as effective_duties' template_changed: the line's post or text is no longer what the
    # township adjusted (its text is its wording, else the duty's name).
    changed = (scope.filter(select(DutyAdjustment).join(
        DutyTemplateEntry, DutyAdjustment.template_entry_id == DutyTemplateEntry.id).join(
        Duty, DutyTemplateEntry.duty_id == Duty.id).where(
        DutyAdjustment.base_post_title.is_not(None),
        or_(DutyTemplateEntry.post_title != DutyAdjustment.base_post_title,
            func.coalesce(DutyTemplateEntry.wording, Duty.name).is_distinct_from(DutyAdjustment.base_wording))),
        DutyAdjustment, VIEW))
    count = session.scalar(select(func.count()).select_from(changed.subquery())) or 0
    adjustments = session.scalars(changed.order_by(DutyAdjustment.township_id, DutyAdjustment.id)
                                  .limit(TODO_LIMIT)).all()
    groups.append(TodoGroup("template", _("模板已更新,待复核的职责调整"), count, [
        (f"{a.township.name if a.township else ''} {a.duty.name if a.duty else ''}",
         url_for("duty_division.township", code=a.township.code) if a.township else None, a.reason or "")
        for a in adjustments], None))

    try:
        from models.transfers import Transfer, TransferStatus
    except ImportError:  # the transfer model is optional in older trees
        Transfer = None  # noqa: N806
    if Transfer is not None and scope.can(Transfer, VIEW):
        pending = scope.filter(select(Transfer).where(Transfer.status == TransferStatus.PENDING.value),
                               Transfer, VIEW)
        count = session.scalar(select(func.count()).select_from(pending.subquery())) or 0
        rows = session.scalars(pending.order_by(Transfer.id).limit(TODO_LIMIT)).all()
        groups.append(TodoGroup("transfers", _("待处理的户籍迁入"), count, [
            (str(t), _details("transfer", t.id), "") for t in rows],
            list_url("transfer", ("status", "equal", TransferStatus.PENDING.value))))
    return groups


# -- many townships: the chart by county, each county's townships behind "全部" ------------------------
CHART_MAX = 20  # bars before the chart switches to one per county
COUNTY_TOP = 5  # townships shown per county (lowest completion first); the rest under 全部


@dataclass
class CountyGroup:
    county: Region
    percent: int | None
    top: list[tuple[Region, int | None]]
    rest: list[tuple[Region, int | None]]

    @property
    def total(self) -> int:
        return len(self.top) + len(self.rest)


def group_by_county(session: Session, scope: Scope, today: datetime.date,
                    completion: list[tuple[Region, int | None]]) -> list[CountyGroup]:
    """Townships' completion grouped by county, the county's own figure from the same scope."""
    by_county: dict[int, list[tuple[Region, int | None]]] = {}
    for township, pct in completion:
        by_county.setdefault(township.parent_id, []).append((township, pct))
    counties = {c.id: c for c in session.scalars(select(Region).where(Region.id.in_(list(by_county))))}
    groups = []
    for county_id, rows in sorted(by_county.items(), key=lambda kv: counties[kv[0]].code if kv[0] in counties
                                  else ""):
        county = counties.get(county_id)
        if county is None:
            continue
        rows.sort(key=lambda r: (r[1] is not None, r[1] if r[1] is not None else 0, r[0].code))
        percent = dashboard_figures(session, scope, today, unit=county).plan_percent
        groups.append(CountyGroup(county, percent, rows[:COUNTY_TOP], rows[COUNTY_TOP:]))
    return groups
