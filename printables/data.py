"""Read what a printable shows, once, into plain values (no lazy loads while rendering)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from admin_app import privacy
from models import (
    AnnualPlan,
    Appointment,
    MilitiaMembership,
    MilitiaUnit,
    Person,
    PlanItem,
    Post,
    PrintSettings,
    Region,
    VeteranProfile,
)
from models.duty_logic import STATUS_LABELS, TEMPLATE, effective_duties
from models.enums import (
    DischargeType,
    EmploymentStatus,
    Gender,
    MilitiaCategory,
    MilitiaRole,
    MilitiaUnitType,
    PlanStatus,
    PoliticalStatus,
    Service,
)

from .orgchart import Layout, PostNode, layout_tree

MM = 72 / 25.4
PAPER_PT = {"A4": (297 * MM, 210 * MM), "A3": (420 * MM, 297 * MM), "A2": (594 * MM, 420 * MM)}
MARGIN_MM = 10
MONTHS = ("一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月")
ONE_PAGE_DUTY_ROWS = 15


@dataclass
class DutyRow:
    names: str
    post_title: str
    lines: list[tuple[str, str | None]]  # (wording, status label when not from the template)
    vacant: bool = False


@dataclass
class PlanMonth:
    month: int
    label: str
    items: list[PlanItem] = field(default_factory=list)


@dataclass
class ChartData:
    township: Region
    title: str
    paper: str
    page_w: float
    page_h: float
    layout: Layout
    tree_h: float
    duty_rows: list[DutyRow]
    plan_year: int | None
    months: list[PlanMonth]
    show_duties: bool
    show_plan: bool
    footer_text: str
    read_at: datetime.datetime
    printed_on: datetime.date
    scale: float
    table_size: float
    compact: bool
    post_count: int
    villages: list[VillageCell] = field(default_factory=list)
    village_rows: list[list[VillageCell]] = field(default_factory=list)
    village_problems: list[str] = field(default_factory=list)
    rooms: RoomsBlock | None = None


@dataclass
class VillageCell:
    """One village station on the wall chart's compact row (rule 3)."""

    name: str
    head: str
    party_is_head: bool
    officer: str
    militia_leader: str
    problem: bool


@dataclass
class RoomsBlock:
    """功能厅室与服务窗口: one short line each on the chart."""

    rooms: list[str]
    windows: list[str]


VILLAGES_PER_ROW = 6
VILLAGE_ROW_PT = 24
ROOMS_BLOCK_PT = 30


def village_cells(session: Session, township: Region, day: datetime.date):
    from models.enums import VillageRole
    from models.village import village_stations

    stations = village_stations(session, township, day)
    cells = [VillageCell(st.village.name, st.names(VillageRole.STATION_HEAD),
                         bool(st.people(VillageRole.STATION_HEAD))
                         and st.people(VillageRole.STATION_HEAD) <= st.people(VillageRole.PARTY_HEAD),
                         st.names(VillageRole.STATION_OFFICER), st.names(VillageRole.MILITIA_LEADER),
                         bool(st.problems)) for st in stations]
    return cells, [p for st in stations for p in st.problems]


def rooms_block(session: Session, township: Region) -> RoomsBlock:
    from models import Room, ServiceWindow
    from models.enums import RoomKind

    rooms = session.scalars(select(Room).where(Room.region_id == township.id).order_by(Room.kind, Room.id))
    windows = session.scalars(select(ServiceWindow).where(ServiceWindow.region_id == township.id)
                              .order_by(ServiceWindow.id))
    return RoomsBlock([r.name + (f"({RoomKind.label_of(r.kind)})" if RoomKind.label_of(r.kind) not in r.name
                                 else "") for r in rooms],
                      [w.name for w in windows])


def settings_for(session: Session, township: Region) -> PrintSettings:
    """The township's print settings, or unsaved defaults."""
    found = session.scalars(select(PrintSettings).where(PrintSettings.township_id == township.id)).first()
    return found or PrintSettings(township_id=township.id, paper_size="A3", show_duties=True, show_plan=True)


def holders_of(post: Post, day: datetime.date) -> tuple[tuple[str, bool], ...]:
    current = sorted(post.current_appointments(day), key=lambda a: (a.concurrent, a.start_on, a.id))
    return tuple((a.person.name, bool(a.concurrent)) for a in current)


def names_text(holders: tuple[tuple[str, bool], ...]) -> str:
    return "、".join(f"{name}(兼)" if concurrent else name for name, concurrent in holders)


def township_posts(session: Session, township: Region) -> list[Post]:
    return list(session.scalars(
        select(Post).where(Post.region_id == township.id)
        .options(selectinload(Post.appointments).selectinload(Appointment.person))
        .order_by(Post.sort_order, Post.id)))


def duty_rows(session: Session, township: Region, posts: list[Post], day: datetime.date) -> list[DutyRow]:
    """One row per post that carries duties, in post order; adjusted lines carry their mark."""
    lines_by_title: dict[str, list[tuple[str, str | None]]] = {}
    for line in effective_duties(township, session=session):
        mark = None if line.status == TEMPLATE else STATUS_LABELS[line.status]
        lines_by_title.setdefault(line.post_title or "未指定岗位", []).append((line.wording, mark))
    rows = []
    for post in posts:
        if post.title in lines_by_title:
            holders = holders_of(post, day)
            rows.append(DutyRow(names_text(holders) or "空缺", post.title, lines_by_title.pop(post.title),
                                vacant=not holders))
    villages = village_post_counts(session, township)
    for title, lines in lines_by_title.items():  # village-level posts, or posts the township lacks
        if title in villages:
            rows.append(DutyRow(f"各村共 {villages[title]} 岗", title, lines))
        else:
            rows.append(DutyRow("未设岗位", title, lines, vacant=True))
    return rows


def village_post_counts(session: Session, township: Region) -> dict[str, int]:
    """Post title → how many villages (村/社区) of the township have that post."""
    stmt = (select(Post.title, func.count(Post.id)).join(Post.region)
            .where(Region.path.like(township.path + "%"), Region.id != township.id)
            .group_by(Post.title))
    return dict(session.execute(stmt).all())


def plan_for(session: Session, township: Region, year: int | None) -> AnnualPlan | None:
    stmt = select(AnnualPlan).where(AnnualPlan.township_id == township.id).options(
        selectinload(AnnualPlan.items).selectinload(PlanItem.lead_post))
    if year is not None:
        return session.scalars(stmt.where(AnnualPlan.year == year)).first()
    this_year = datetime.date.today().year
    return (session.scalars(stmt.where(AnnualPlan.year <= this_year).order_by(AnnualPlan.year.desc())).first()
            or session.scalars(stmt.order_by(AnnualPlan.year)).first())


def plan_months(plan: AnnualPlan | None) -> list[PlanMonth]:
    months = [PlanMonth(i + 1, MONTHS[i]) for i in range(12)]
    for item in plan.items if plan else []:
        if item.status != PlanStatus.DROPPED.value:
            months[item.month - 1].items.append(item)
    return months


def chart_data(session: Session, township: Region, *, day: datetime.date | None = None,
               paper: str | None = None) -> ChartData:
    """Everything the wall chart of ``township`` shows, read now."""
    read_at = datetime.datetime.now()
    day = day or read_at.date()
    settings = settings_for(session, township)
    paper = paper if paper in PAPER_PT else (settings.paper_size or "A3")
    page_w, page_h = PAPER_PT[paper]
    scale = page_w / PAPER_PT["A3"][0]
    posts = township_posts(session, township)
    nodes = [PostNode(p.id, p.title, p.parent_id, p.side, holders_of(p, day), p.sort_order) for p in posts]
    rows = duty_rows(session, township, posts, day) if settings.show_duties else []
    plan = plan_for(session, township, None) if settings.show_plan else None
    lower = settings.show_duties or settings.show_plan
    villages, village_problems = village_cells(session, township, day)
    village_rows = [villages[i:i + VILLAGES_PER_ROW] for i in range(0, len(villages), VILLAGES_PER_ROW)]
    rooms = rooms_block(session, township) if getattr(settings, "show_rooms", False) else None
    content_w = page_w - 2 * MARGIN_MM * MM
    content_h = page_h - 2 * MARGIN_MM * MM
    title_block = 46 * scale
    footer_block = 18 * scale
    # The village row and the rooms block take their height from the tree, so the page count stays.
    extra = (len(village_rows) * VILLAGE_ROW_PT + (6 if village_rows else 0)
             + (ROOMS_BLOCK_PT if rooms else 0)) * scale
    tree_h = (content_h - title_block - footer_block) * (0.47 if lower else 0.95) - 16 * scale - extra
    layout = layout_tree(nodes, content_w - 16 * scale, tree_h, min_slot=62 * scale,
                         max_box_w=132 * scale, hgap=10 * scale, max_box_h=58 * scale)
    # The tree has a fixed height whatever the post count; only the tables decide whether page 2 is needed.
    compact = len(rows) <= ONE_PAGE_DUTY_ROWS
    n_lines = sum(max(1, sum(len(w) for w, _ in r.lines) // 48 + 1) for r in rows)
    table_size = (10.5 if n_lines <= 10 else 9.5 if n_lines <= 14 else 8.5 if n_lines <= 20 else 7.5) * scale
    title = settings.title or f"{township.name}人民武装部 退役军人服务站 合署办公架构图"
    return ChartData(township, title, paper, page_w, page_h, layout, tree_h, rows,
                     plan.year if plan else None, plan_months(plan), bool(settings.show_duties),
                     bool(settings.show_plan), settings.footer_text or "", read_at, day, scale,
                     table_size, compact, len(nodes), villages, village_rows, village_problems, rooms)


# -- rosters -------------------------------------------------------------------------------------------

@dataclass
class RosterRow:
    cells: list[str]


def person_cells(person: Person, sensitive: bool) -> list[str]:
    """A person's roster cells; without ``sensitive`` masked by the one policy (admin_app.privacy)."""
    id_number = privacy.shown(Person, person, "id_number", sensitive)
    phone = privacy.shown(Person, person, "phone", sensitive)
    return [person.name, Gender.label_of(person.gender), id_number or "", phone or "",
            PoliticalStatus.label_of(person.political_status)]


def veteran_rows(session: Session, township: Region, sensitive: bool) -> list[RosterRow]:
    """Veterans living in the township (or one of its villages)."""
    stmt = (select(VeteranProfile).join(VeteranProfile.person).join(Person.region)
            .where(Region.path.like(township.path + "%"))
            .options(selectinload(VeteranProfile.person)).order_by(Person.name_pinyin, Person.id))
    rows = []
    for v in session.scalars(stmt):
        rows.append(RosterRow(person_cells(v.person, sensitive) + [
            Service.label_of(v.service), _date(v.enlisted_on), _date(v.discharged_on),
            DischargeType.label_of(v.discharge_type), v.specialty or "", _date(v.reported_home_on),
            EmploymentStatus.label_of(v.employment_status), "是" if v.honor_plaque else "否"]))
    return rows


def militia_rows(session: Session, township: Region, year: int, sensitive: bool) -> list[RosterRow]:
    stmt = (select(MilitiaMembership).join(MilitiaMembership.person)
            .outerjoin(MilitiaMembership.unit)
            .where(MilitiaMembership.township_id == township.id, MilitiaMembership.year == year)
            .options(selectinload(MilitiaMembership.person), selectinload(MilitiaMembership.unit))
            .order_by(MilitiaMembership.category, MilitiaMembership.unit_type, MilitiaUnit.sort_order,
                      MilitiaUnit.name, Person.name_pinyin, MilitiaMembership.id))
    rows = []
    for m in session.scalars(stmt):
        rows.append(RosterRow(person_cells(m.person, sensitive) + [
            MilitiaCategory.label_of(m.category), MilitiaUnitType.label_of(m.unit_type),
            m.unit.name if m.unit else "", MilitiaRole.label_of(m.role)]))
    return rows


def _date(value: datetime.date | None) -> str:
    return value.isoformat() if value else ""


# -- militia rosters, door signs ---------------------------------------------------------------------------

@dataclass
class UnitSection:
    name: str
    kind: str
    leader: str
    planned: int | None
    depth: int
    rows: list[RosterRow]
    size: int = 0  # members including sub-units


def militia_unit_sections(session: Session, township: Region, year: int, sensitive: bool) -> list[UnitSection]:
    """The year's units in tree order, each with its members (and one section for those in no unit)."""
    from models.enums import MilitiaMemberStatus
    from models.militia import memberships_of, unit_sizes, units_of

    units = units_of(session, township, year)
    members = memberships_of(session, township, year)
    by_unit: dict[int | None, list[MilitiaMembership]] = {}
    for m in members:
        by_unit.setdefault(m.unit_id, []).append(m)
    ids = {u.id for u in units}
    children: dict[int | None, list] = {}
    for u in units:
        children.setdefault(u.parent_id if u.parent_id in ids else None, []).append(u)

    def rows(ms):
        return [RosterRow(person_cells(m.person, sensitive) + [
            MilitiaCategory.label_of(m.category), MilitiaRole.label_of(m.role),
            MilitiaMemberStatus.label_of(m.status)]) for m in ms]

    sections: list[UnitSection] = []

    sizes = unit_sizes(units, {uid: len(ms) for uid, ms in by_unit.items() if uid is not None})

    def walk(parent_id, depth):
        for u in children.get(parent_id, []):
            sections.append(UnitSection(u.name, MilitiaUnitType.label_of(u.kind), u.leader.name if u.leader else "",
                                        u.planned_size, depth, rows(by_unit.get(u.id, [])), sizes.get(u.id, 0)))
            walk(u.id, depth + 1)

    walk(None, 0)
    if by_unit.get(None):
        sections.append(UnitSection("未编入单位", "", "", None, 0, rows(by_unit[None])))
    return sections


def emergency_rows(session: Session, township: Region, year: int, sensitive: bool) -> list[RosterRow]:
    from models.enums import MilitaryRating
    from models.militia import memberships_of

    out = []
    for m in memberships_of(session, township, year):
        if m.unit_type != MilitiaUnitType.EMERGENCY.value:
            continue
        v = m.person.veteran_profile
        out.append(RosterRow(person_cells(m.person, sensitive) + [
            m.unit.name if m.unit else "", MilitiaRole.label_of(m.role), "是" if v else "否",
            (v.specialty or "") if v else "", MilitaryRating.label_of(v.military_rating) if v else ""]))
    return out


@dataclass
class DoorSign:
    title: str
    kind: str
    lines: list[str]


def door_signs(session: Session, township: Region) -> list[DoorSign]:
    from models import Room, ServiceWindow
    from models.enums import RoomKind

    signs = [DoorSign(r.name, RoomKind.label_of(r.kind), ["部站共用"] if r.shared else [])
             for r in session.scalars(select(Room).where(Room.region_id == township.id).order_by(Room.kind, Room.id))]
    signs += [DoorSign(w.name, "服务窗口", [w.services] if w.services else [])
              for w in session.scalars(select(ServiceWindow).where(ServiceWindow.region_id == township.id)
                                       .order_by(ServiceWindow.id))]
    return signs
