"""Militia units and the annual reorganisation (民兵整组): units as rows, the city's age limits, the rules
every membership obeys (however it is made), the roll-over from last year's roster and the candidates
for the emergency detachment (rule 8).

The rules live in ``membership_problems`` (called by ``MilitiaMembership.check()``), so the write gate
applies them to the form, the import, the roll-over and the candidates screen alike.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship, selectinload

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import MilitaryRating, MilitiaCategory, MilitiaMemberStatus, MilitiaRole, MilitiaUnitType
from .people import MilitiaMembership, Person, VeteranProfile
from .region import Region

#: Age is counted on this day of the reorganisation year (the 兵役登记 cut-off, 30 June).
AGE_DAY = (6, 30)
#: Unit kinds by size: a unit's parent is a larger kind (an emergency detachment stands alone or under a 连).
KIND_RANK = {MilitiaUnitType.COMPANY.value: 0, MilitiaUnitType.EMERGENCY.value: 1,
             MilitiaUnitType.PLATOON.value: 1, MilitiaUnitType.SQUAD.value: 2}
RATING_SCORE = {MilitaryRating.EXCELLENT.value: 3, MilitaryRating.GOOD.value: 2, MilitaryRating.PASS.value: 1,
                MilitaryRating.FAIL.value: 0}


def age_in_year(birth: datetime.date | None, year: int) -> int | None:
    """Full years of age on 30 June of ``year`` (None when the birth date is unknown)."""
    if birth is None:
        return None
    day = datetime.date(year, *AGE_DAY)
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class MilitiaSettings(TimestampMixin, Base):
    """The city's militia age limits (民兵年龄条件); a city without a row uses the defaults below."""

    __tablename__ = "militia_settings"
    __scope__ = None  # city-wide: everyone reads it, only a city admin changes it
    __admin__ = {
        "name": "民兵年龄条件", "category": "民兵", "order": 90,
        "list": ["city", "min_age", "max_age", "core_max_age", "veteran_core_max_age"],
        "filters": ["city"],
        "form": ["city", "min_age", "max_age", "core_max_age", "veteran_core_max_age"],
        "sort": "-id",
    }
    DEFAULTS = {"min_age": 18, "max_age": 35, "core_max_age": 28, "veteran_core_max_age": 35}

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, unique=True,
                                         info={"label": "市", "levels": ("city",)})
    min_age: Mapped[int] = mapped_column(Integer, nullable=False, default=18, info={
        "label": "最低年龄", "min": 14, "max": 60, "description": "整组年度 6 月 30 日的周岁"})
    max_age: Mapped[int] = mapped_column(Integer, nullable=False, default=35, info={
        "label": "民兵最高年龄", "min": 14, "max": 70})
    core_max_age: Mapped[int] = mapped_column(Integer, nullable=False, default=28, info={
        "label": "基干民兵最高年龄", "min": 14, "max": 70})
    veteran_core_max_age: Mapped[int] = mapped_column(Integer, nullable=False, default=35, info={
        "label": "退役军人基干民兵最高年龄", "min": 14, "max": 70,
        "description": "退役军人任基干民兵(含应急分队)可放宽到的年龄"})

    city: Mapped[Region] = relationship(info={"label": "市", "levels": ("city",)})

    def __str__(self) -> str:
        return f"{self.city.name if self.city else ''}民兵年龄条件"

    def check(self) -> dict[str, str]:
        if not self.min_age <= self.core_max_age <= self.veteran_core_max_age <= self.max_age:
            return {"core_max_age": "应满足:最低年龄 ≤ 基干民兵最高年龄 ≤ 退役军人基干民兵最高年龄 ≤ 民兵最高年龄"}
        return {}

    @classmethod
    def for_region(cls, session: Session, region: Region | None) -> MilitiaSettings:
        """The settings of the city ``region`` lies in, or unsaved defaults."""
        if region is not None and region.path:
            cities = [code + "/" for code in region.path.split("/")[:-1]]
            prefixes = ["".join(cities[:i + 1]) for i in range(len(cities))]
            found = session.scalars(select(cls).join(cls.city).where(Region.path.in_(prefixes))
                                    .order_by(func.length(Region.path).desc())).first()
            if found is not None:
                return found
        return cls(**cls.DEFAULTS)

    def limits(self, category: str, veteran: bool) -> tuple[int, int]:
        if category == MilitiaCategory.CORE.value:
            return self.min_age, self.veteran_core_max_age if veteran else self.core_max_age
        return self.min_age, self.max_age


class MilitiaUnit(TimestampMixin, Base):
    """A militia unit (连/排/班, or the 应急分队) of a township in one reorganisation year."""

    __tablename__ = "militia_unit"
    __table_args__ = (
        UniqueConstraint("township_id", "year", "name", name="uq_militia_unit_township_id"),
        enum_check("kind", MilitiaUnitType),
    )
    __scope__ = "township_id"
    __admin__ = {
        "name": "民兵编组", "category": "民兵", "order": 20,
        "list": ["township", "year", "kind", "name", "leader", "planned_size", "parent"],
        "search": ["name"],
        "filters": ["township", "year", "kind"],
        "form": ["township", "year", "kind", "name", "leader", "planned_size", "parent", "sort_order"],
        "ajax": ["leader"],
        "sort": "sort_order",
    }
    __delete_protect__ = ("MilitiaMembership",)  # members first; sub-units only unlink

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道", "levels": ("township",)})
    year: Mapped[int] = mapped_column(Integer, nullable=False, info={"label": "整组年度", "min": 2000, "max": 2100})
    kind: Mapped[str] = enum_column(MilitiaUnitType, "编组类别")
    name: Mapped[str] = mapped_column(String(60), nullable=False, info={"label": "单位名称"})
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True,
                                                  info={"label": "负责人"})
    planned_size: Mapped[int | None] = mapped_column(Integer, info={"label": "计划编制人数", "min": 0, "max": 999})
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("militia_unit.id", ondelete="SET NULL"), index=True,
                                                  info={"label": "上级单位"})
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "排序"})

    township: Mapped[Region] = relationship(info={"label": "乡镇/街道", "levels": ("township",)})
    leader: Mapped[Person | None] = relationship(info={"label": "负责人"})
    parent: Mapped[MilitiaUnit | None] = relationship(remote_side=[id], back_populates="children",
                                                      info={"label": "上级单位"})
    children: Mapped[list[MilitiaUnit]] = relationship(back_populates="parent")
    memberships: Mapped[list[MilitiaMembership]] = relationship(back_populates="unit")

    def __str__(self) -> str:
        return f"{self.name}({self.year})" if self.year else self.name

    def check(self) -> dict[str, str]:
        self.name = (self.name or "").strip()
        if not self.name:
            return {"name": "请填写单位名称"}
        duplicate = self._duplicate_name()
        if duplicate:
            return {"name": duplicate}
        parent = self.parent
        if parent is None:
            return {}
        if parent is self:
            return {"parent": "上级单位不能是本单位"}
        if parent.year != self.year:
            return {"parent": f"上级单位属于 {parent.year} 年度,与本单位的整组年度不一致"}
        if KIND_RANK.get(parent.kind, 0) >= KIND_RANK.get(self.kind, 0):
            return {"parent": f"{MilitiaUnitType.label_of(self.kind)}不能隶属于"
                              f"{MilitiaUnitType.label_of(parent.kind)}"}
        node, seen = parent, {id(self)}
        while node is not None:
            if id(node) in seen:
                return {"parent": "上级单位不能形成循环"}
            seen.add(id(node))
            node = node.parent
        return {}


    def _duplicate_name(self) -> str | None:
        """One name per township and year (also when the township is set through the relationship, and
        for two new units in one flush)."""
        session = object_session(self)
        township_id = self.township.id if self.township is not None else self.township_id
        if session is None or township_id is None:
            return None
        message = f"{self.year} 年度已有名为“{self.name}”的单位"
        for other in session.new:
            if other is not self and isinstance(other, MilitiaUnit) and other.year == self.year \
                    and (other.name or "").strip() == self.name \
                    and (other.township.id if other.township is not None else other.township_id) == township_id:
                return message
        stmt = select(MilitiaUnit.id).where(MilitiaUnit.township_id == township_id, MilitiaUnit.year == self.year,
                                            MilitiaUnit.name == self.name)
        if self.id is not None:
            stmt = stmt.where(MilitiaUnit.id != self.id)
        return message if session.scalar(stmt.limit(1)) is not None else None


# -- the rules of a membership (MilitiaMembership.check) ---------------------------------------------------

def membership_problems(m: MilitiaMembership) -> dict[str, str]:
    """Unit of the same year (its kind becomes the membership's 编组), age limits of the city, the
    emergency detachment's conditions, one membership per person and year (also within one flush)."""
    session = object_session(m)
    errors: dict[str, str] = {}
    unit = m.unit if m.unit is not None or m.unit_id is None else (
        session.get(MilitiaUnit, m.unit_id) if session else None)
    if unit is not None:
        if unit.year != m.year:
            errors["unit"] = f"“{unit.name}”是 {unit.year} 年度的单位,与整组年度 {m.year} 不符"
        m.unit_type = unit.kind
    if not m.status:
        m.status = MilitiaMemberStatus.CONFIRMED.value
    person = m.person if m.person is not None or m.person_id is None else (
        session.get(Person, m.person_id) if session else None)
    if person is None:
        return errors
    township = m.township if m.township is not None or m.township_id is None else (
        session.get(Region, m.township_id) if session else None)
    emergency = m.unit_type == MilitiaUnitType.EMERGENCY.value
    if emergency and m.category != MilitiaCategory.CORE.value:
        errors["category"] = "应急分队队员应为基干民兵"
    settings = MilitiaSettings.for_region(session, township) if session else MilitiaSettings(
        **MilitiaSettings.DEFAULTS)
    age = age_in_year(person.birth_date, m.year) if m.year else None
    if age is None:
        if emergency:
            errors["person"] = f"{person.name} 没有出生日期(请先登记公民身份号码),不能编入应急分队"
    else:
        veteran = _is_veteran(session, person)
        low, high = settings.limits(m.category, veteran)
        if not low <= age <= high:
            what = MilitiaCategory.label_of(m.category) + ("(退役军人)" if veteran and
                                                           m.category == MilitiaCategory.CORE.value else "")
            errors["person"] = (f"{person.name} {m.year} 年 {age} 周岁,不符合{what}的年龄条件"
                                f"({low}–{high} 周岁)")
    if "person" not in errors and session is not None and m.year:
        errors.update(_duplicate(session, m, person))
    return errors


def _is_veteran(session: Session | None, person: Person) -> bool:
    if person.veteran_profile is not None:
        return True
    if session is None or person.id is None:
        return False
    return session.scalar(select(VeteranProfile.id).where(VeteranProfile.person_id == person.id)) is not None


def _duplicate(session: Session, m: MilitiaMembership, person: Person) -> dict[str, str]:
    message = {"person": f"{person.name} 已登记在 {m.year} 年度民兵名册中,同一人每年只能登记一次"}
    for other in session.new:
        if other is not m and isinstance(other, MilitiaMembership) and other.year == m.year and (
                other.person is person or person.id is not None and other.person_id == person.id):
            return message
    if person.id is None:
        return {}
    stmt = select(MilitiaMembership.id).where(MilitiaMembership.person_id == person.id,
                                              MilitiaMembership.year == m.year)
    if m.id is not None:
        stmt = stmt.where(MilitiaMembership.id != m.id)
    deleted = {o.id for o in session.deleted if isinstance(o, MilitiaMembership)}
    found = [i for i in session.scalars(stmt) if i not in deleted]
    return message if found else {}


# -- the reorganisation of one township and year -----------------------------------------------------------

NOT_STARTED, IN_PROGRESS, CONFIRMED = "not_started", "in_progress", "confirmed"
REORG_STATUS_LABELS = {NOT_STARTED: "未开始", IN_PROGRESS: "进行中", CONFIRMED: "已确认"}


def in_township(person: Person, township: Region) -> bool:
    return person.region is not None and person.region.path.startswith(township.path)


def memberships_of(session: Session, township: Region, year: int) -> list[MilitiaMembership]:
    return list(session.scalars(
        select(MilitiaMembership).join(MilitiaMembership.person)
        .where(MilitiaMembership.township_id == township.id, MilitiaMembership.year == year)
        .options(selectinload(MilitiaMembership.person).selectinload(Person.region),
                 selectinload(MilitiaMembership.person).selectinload(Person.veteran_profile),
                 selectinload(MilitiaMembership.unit))
        .order_by(Person.name_pinyin, MilitiaMembership.id)))


def units_of(session: Session, township: Region, year: int) -> list[MilitiaUnit]:
    return list(session.scalars(
        select(MilitiaUnit).where(MilitiaUnit.township_id == township.id, MilitiaUnit.year == year)
        .options(selectinload(MilitiaUnit.leader))
        .order_by(MilitiaUnit.sort_order, MilitiaUnit.id)))


def reorg_status(total: int, pending: int) -> str:
    if total == 0:
        return NOT_STARTED
    return IN_PROGRESS if pending else CONFIRMED


@dataclass
class Leave:
    membership: MilitiaMembership
    reason: str


@dataclass
class RolloverResult:
    created: list[MilitiaMembership] = field(default_factory=list)
    units_created: list[MilitiaUnit] = field(default_factory=list)
    left_out: list[Leave] = field(default_factory=list)  # last year's members not copied, with why
    already: int = 0  # already on the new roster


def leave_reason(session: Session, m: MilitiaMembership, township: Region, year: int) -> str | None:
    """Why last year's member cannot simply stay in ``year`` (moved away, too old or young); None if fit."""
    person = m.person
    if not in_township(person, township):
        return "已迁出本乡镇"
    settings = MilitiaSettings.for_region(session, township)
    age = age_in_year(person.birth_date, year)
    if age is not None and not settings.min_age <= age <= settings.max_age:
        return f"超龄({age} 周岁)" if age > settings.max_age else f"未满 {settings.min_age} 周岁"
    return None


def rollover(session: Session, township: Region, from_year: int, to_year: int) -> RolloverResult:
    """按上年名册生成: copy ``from_year``'s units and members into ``to_year`` as 待确认, each with a note
    when something needs the clerk's eye. Members who moved away or aged out are left out (and listed).
    Nothing is committed here; the flush goes through the write gate like any other write."""
    result = RolloverResult()
    settings = MilitiaSettings.for_region(session, township)
    new_units = {u.name: u for u in units_of(session, township, to_year)}
    mapping: dict[int, MilitiaUnit] = {}
    old_units = units_of(session, township, from_year)
    for old in old_units:
        unit = new_units.get(old.name)
        if unit is None:
            leader = old.leader if old.leader is not None and in_township(old.leader, township) else None
            unit = MilitiaUnit(township=township, year=to_year, kind=old.kind, name=old.name, leader=leader,
                               planned_size=old.planned_size, sort_order=old.sort_order)
            session.add(unit)
            new_units[old.name] = unit
            result.units_created.append(unit)
        mapping[old.id] = unit
    for old in old_units:
        if old.parent_id in mapping and mapping[old.id] in result.units_created:
            mapping[old.id].parent = mapping[old.parent_id]
    taken = set(session.scalars(select(MilitiaMembership.person_id).where(MilitiaMembership.year == to_year)))
    for old in memberships_of(session, township, from_year):
        person = old.person
        if person.id in taken:
            result.already += 1
            continue
        reason = leave_reason(session, old, township, to_year)
        if reason:
            result.left_out.append(Leave(old, reason))
            continue
        notes = []
        category, unit, role = old.category, mapping.get(old.unit_id), old.role
        unit_type = old.unit_type
        age = age_in_year(person.birth_date, to_year)
        veteran = person.veteran_profile is not None
        if category == MilitiaCategory.CORE.value and age is not None \
                and age > settings.limits(category, veteran)[1]:
            category = MilitiaCategory.ORDINARY.value
            notes.append(f"{age} 周岁,超出基干民兵年龄,改为普通民兵")
        if unit_type == MilitiaUnitType.EMERGENCY.value and (
                category != MilitiaCategory.CORE.value or age is None):
            if age is None:
                notes.append("缺少出生日期,不能留在应急分队")
            unit, unit_type, role = None, MilitiaUnitType.COMPANY.value, MilitiaRole.MEMBER.value
        if not old.fit:
            notes.append("上年标记为身体条件不合格,请核实")
        new = MilitiaMembership(person=person, township=township, year=to_year, category=category,
                                unit=unit, unit_type=unit.kind if unit is not None else unit_type, role=role,
                                fit=old.fit, status=MilitiaMemberStatus.PENDING.value,
                                review_note=";".join(notes) or None)
        session.add(new)
        result.created.append(new)
        taken.add(person.id)
    return result


@dataclass
class RosterDiff:
    joins: list[MilitiaMembership]
    leaves: list[Leave]


def roster_diff(session: Session, township: Region, year: int) -> RosterDiff:
    """Who joined in ``year`` (not on last year's roster) and who left (with the likely reason)."""
    now = memberships_of(session, township, year)
    before = memberships_of(session, township, year - 1)
    now_ids = {m.person_id for m in now}
    before_ids = {m.person_id for m in before}
    joins = [m for m in now if m.person_id not in before_ids]
    leaves = [Leave(m, leave_reason(session, m, township, year) or "未续编(已移出名册)")
              for m in before if m.person_id not in now_ids]
    return RosterDiff(joins, leaves)


# -- candidates for the emergency detachment (rule 8) ------------------------------------------------------

@dataclass
class Candidate:
    profile: VeteranProfile
    age: int | None
    matched: list[str]
    score: int
    membership: MilitiaMembership | None  # this year's, when already in the militia

    @property
    def person(self) -> Person:
        return self.profile.person


def candidates(session: Session, township: Region, year: int, *, keywords: list[str] | None = None,
               min_age: int = 18, max_age: int = 35, min_rating: str | None = None,
               exclude_members: bool = True, scope_filter=None) -> list[Candidate]:
    """Veterans living in the township, filtered and sorted by fit: matched 专业特长 keywords first, then
    the 军事素养 rating, then the younger. ``scope_filter(stmt, model)`` applies the user's scope."""
    keywords = [k for k in (keywords or []) if k]
    stmt = (select(VeteranProfile).join(VeteranProfile.person).join(Person.region)
            .where(Region.path.like(township.path + "%"))
            .options(selectinload(VeteranProfile.person).selectinload(Person.region)))
    if scope_filter is not None:
        stmt = scope_filter(stmt, VeteranProfile)
    members = {m.person_id: m for m in session.scalars(
        select(MilitiaMembership).where(MilitiaMembership.year == year,
                                        MilitiaMembership.township_id == township.id))}
    floor = RATING_SCORE.get(min_rating or "", None)
    out = []
    for profile in session.scalars(stmt):
        person = profile.person
        age = age_in_year(person.birth_date, year)
        if age is None or not min_age <= age <= max_age:
            continue
        rating = RATING_SCORE.get(profile.military_rating or "", -1)
        if floor is not None and rating < floor:
            continue
        membership = members.get(person.id)
        if membership is not None and exclude_members:
            continue
        specialty = profile.specialty or ""
        matched = [k for k in keywords if k in specialty]
        if keywords and not matched:
            continue
        score = len(matched) * 10 + max(rating, 0) * 3 + (2 if specialty else 0)
        out.append(Candidate(profile, age, matched, score, membership))
    out.sort(key=lambda c: (-c.score, c.age if c.age is not None else 99, c.person.name_pinyin, c.person.id))
    return out


def unit_sizes(units: list[MilitiaUnit], direct: dict[int, int]) -> dict[int, int]:
    """Members of each unit including its sub-units (a 连's size counts its 排 and 班); ``direct`` maps a
    unit id to the members placed in that unit itself."""
    children: dict[int, list[int]] = {}
    for u in units:
        if u.parent_id is not None:
            children.setdefault(u.parent_id, []).append(u.id)
    sizes: dict[int, int] = {}

    def total(uid: int, seen: frozenset = frozenset()) -> int:
        if uid in sizes:
            return sizes[uid]
        if uid in seen:  # a cycle the rules refuse; never loop on bad data
            return 0
        sizes[uid] = direct.get(uid, 0) + sum(total(c, seen | {uid}) for c in children.get(uid, []))
        return sizes[uid]

    for u in units:
        total(u.id)
    return sizes
