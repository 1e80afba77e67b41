"""``effective_duties``: the city template merged with one township's adjustments.

The one place this rule lives; every screen, export and printable calls it. The counting helpers
below (non-core load, who is affected by a template change) work on its result.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from .duties import DutyAdjustment, DutyTemplateEntry
from .enums import AdjustmentAction, DutyCategory
from .org import Appointment, Post
from .region import Region

TEMPLATE, ADDED, ADJUSTED, REMOVED = "template", "added", "adjusted", "removed"
STATUS_LABELS = {TEMPLATE: "模板", ADDED: "新增", ADJUSTED: "调整", REMOVED: "移除"}
HEAD_POST_TITLE = "武装部部长"


@dataclass
class EffectiveDuty:
    """One line of a township's duty division."""

    post_title: str
    post_id: int | None  # the township's post with that title, when it has one
    duty_id: int
    duty_name: str
    wording: str
    category: str
    status: str  # TEMPLATE / ADDED / ADJUSTED / REMOVED
    adjustment_id: int | None = None  # the latest adjustment of the line
    template_changed: bool = False  # the template line beneath an adjustment changed after it
    sort_order: int = 0
    template_entry_id: int | None = None
    template_post_title: str | None = None  # what the template says today (None: not a template line)
    template_wording: str | None = None
    adjustment_ids: list[int] = field(default_factory=list)  # every adjustment of the line, in order
    reasons: list[str] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def category_label(self) -> str:
        return DutyCategory.label_of(self.category)

    @property
    def is_non_core(self) -> bool:
        return self.category == DutyCategory.NON_CORE.value

    @property
    def key(self) -> str:
        """A stable handle for one line: ``e<template entry id>`` or ``a<adjustment id>`` for an added one."""
        if self.template_entry_id is not None:
            return f"e{self.template_entry_id}"
        return f"a{self.adjustment_ids[0]}" if self.adjustment_ids else f"d{self.duty_id}"


def effective_duties(township: Region, *, include_removed: bool = False,
                     session: Session | None = None) -> list[EffectiveDuty]:
    """The township's duty table: template lines with its adjustments applied in time order.

    Lines are grouped by post (the township's posts in their order, then template titles it lacks);
    within a post, template order, then added lines.
    """
    session = session or object_session(township)
    posts = session.scalars(select(Post).where(Post.region_id == township.id)
                            .order_by(Post.sort_order, Post.id)).all()
    posts_by_title: dict[str, Post] = {}
    for post in posts:
        posts_by_title.setdefault(post.title, post)
    posts_by_id = {p.id: p for p in posts}
    entries = session.scalars(select(DutyTemplateEntry).options(selectinload(DutyTemplateEntry.duty))
                              .order_by(DutyTemplateEntry.sort_order, DutyTemplateEntry.id)).all()
    lines: list[EffectiveDuty] = []
    by_entry: dict[int, EffectiveDuty] = {}
    by_duty: dict[int, EffectiveDuty] = {}
    current = {e.id: (e.post_title, e.text) for e in entries}
    for entry in entries:
        post = posts_by_title.get(entry.post_title)
        line = EffectiveDuty(entry.post_title, post.id if post else None, entry.duty_id, entry.duty.name,
                             entry.text, entry.duty.category, TEMPLATE, sort_order=entry.sort_order,
                             template_entry_id=entry.id, template_post_title=entry.post_title,
                             template_wording=entry.text)
        lines.append(line)
        by_entry[entry.id] = line
        by_duty.setdefault(entry.duty_id, line)
    adjustments = session.scalars(select(DutyAdjustment).where(DutyAdjustment.township_id == township.id)
                                  .options(selectinload(DutyAdjustment.duty))
                                  .order_by(DutyAdjustment.made_at, DutyAdjustment.id)).all()
    orphans: dict[int, EffectiveDuty] = {}
    for adj in adjustments:
        target = posts_by_id.get(adj.target_post_id) if adj.target_post_id else None
        if adj.action == AdjustmentAction.ADD.value:
            new = EffectiveDuty(target.title if target else "", target.id if target else None, adj.duty_id,
                                adj.duty.name, adj.new_wording or adj.duty.name, adj.duty.category, ADDED,
                                adjustment_id=adj.id, sort_order=10_000 + adj.id,
                                adjustment_ids=[adj.id], reasons=[adj.reason])
            lines.append(new)
            continue
        line = (by_entry.get(adj.template_entry_id) if adj.template_entry_id is not None
                else by_duty.get(adj.duty_id))
        if line is None:
            if adj.action == AdjustmentAction.REMOVE.value:
                continue  # the template line is gone: nothing left to remove
            # The template line beneath this adjustment was deleted: keep the township's version.
            line = orphans.get(adj.duty_id)
            if line is None:
                line = EffectiveDuty(adj.base_post_title or "", None, adj.duty_id, adj.duty.name,
                                     adj.base_wording or adj.duty.name, adj.duty.category, ADJUSTED,
                                     template_changed=True, sort_order=20_000 + adj.id)
                orphans[adj.duty_id] = line
                lines.append(line)
        elif adj.base_post_title is not None and line.template_entry_id in current:
            if current[line.template_entry_id] != (adj.base_post_title, adj.base_wording):
                line.template_changed = True
        line.adjustment_id = adj.id
        line.adjustment_ids.append(adj.id)
        line.reasons.append(adj.reason)
        if line.status == REMOVED:
            continue  # a removed line stays removed until reverted
        if adj.action == AdjustmentAction.REMOVE.value:
            line.status = REMOVED
            continue
        if adj.action == AdjustmentAction.MOVE.value and target is not None:
            line.post_title, line.post_id = target.title, target.id
        elif adj.action == AdjustmentAction.REWORD.value and adj.new_wording:
            line.wording = adj.new_wording
        if line.status == TEMPLATE:
            line.status = ADJUSTED
    if not include_removed:
        lines = [ln for ln in lines if ln.status != REMOVED]
    rank = {p.title: (0, i) for i, p in enumerate(posts)}
    for i, entry in enumerate(entries):
        rank.setdefault(entry.post_title, (1, i))
    return sorted(lines, key=lambda ln: rank.get(ln.post_title, (2, 0)))


def find_line(lines: list[EffectiveDuty], key: str) -> EffectiveDuty | None:
    return next((ln for ln in lines if ln.key == key), None)


def lines_by_post(lines: list[EffectiveDuty]) -> list[tuple[str, list[EffectiveDuty]]]:
    """(post title, lines) in the order of ``lines``."""
    groups: dict[str, list[EffectiveDuty]] = {}
    for line in lines:
        groups.setdefault(line.post_title, []).append(line)
    return list(groups.items())


@dataclass
class DutySummary:
    """How a township's duty table differs from the template and how much non-core load it carries."""

    total: int = 0
    by_status: Counter = field(default_factory=Counter)
    non_core: int = 0
    head_non_core: list[EffectiveDuty] = field(default_factory=list)
    template_changed: int = 0

    @property
    def differences(self) -> int:
        return self.by_status[ADDED] + self.by_status[ADJUSTED] + self.by_status[REMOVED]


def summarise(lines: list[EffectiveDuty]) -> DutySummary:
    """Counts over ``effective_duties(..., include_removed=True)``; removed lines carry no load."""
    summary = DutySummary()
    for line in lines:
        summary.by_status[line.status] += 1
        summary.template_changed += line.template_changed
        if line.status == REMOVED:
            continue
        summary.total += 1
        if line.is_non_core:
            summary.non_core += 1
            if line.post_title == HEAD_POST_TITLE:
                summary.head_non_core.append(line)
    return summary


@dataclass
class PersonLoad:
    person_id: int
    name: str
    posts: list[str] = field(default_factory=list)
    duties: int = 0
    non_core: int = 0
    holds_head_post: bool = False


def person_loads(lines: list[EffectiveDuty], holders: dict[int, list[tuple[int, str]]]) -> list[PersonLoad]:
    """Duties and non-core duties per person; ``holders`` maps post id → [(person id, name)].

    A person holding several posts (兼任) carries the duties of each. Heaviest non-core load first.
    """
    titles: dict[int, str] = {}
    per_post: Counter = Counter()
    non_core_per_post: Counter = Counter()
    for line in lines:
        if line.status == REMOVED or line.post_id is None:
            continue
        titles[line.post_id] = line.post_title
        per_post[line.post_id] += 1
        non_core_per_post[line.post_id] += line.is_non_core
    loads: dict[int, PersonLoad] = {}
    for post_id, people in holders.items():
        for person_id, name in people:
            load = loads.setdefault(person_id, PersonLoad(person_id, name))
            title = titles.get(post_id)
            if title and title not in load.posts:
                load.posts.append(title)
            load.duties += per_post[post_id]
            load.non_core += non_core_per_post[post_id]
            load.holds_head_post |= title == HEAD_POST_TITLE
    return sorted(loads.values(), key=lambda ld: (-ld.non_core, -ld.duties, ld.name))


def current_holders(session: Session, township: Region,
                    day: datetime.date) -> dict[int, list[tuple[int, str]]]:
    """Post id → [(person id, name)] of the township's current appointments on ``day``."""
    holders: dict[int, list[tuple[int, str]]] = {}
    stmt = (select(Appointment).join(Post).where(Post.region_id == township.id)
            .options(selectinload(Appointment.person)))
    for appt in session.scalars(stmt):
        if appt.is_current(day):
            holders.setdefault(appt.post_id, []).append((appt.person_id, appt.person.name))
    return holders


def template_impact(session: Session, township_ids=None) -> dict[int, list[tuple[Region, bool]]]:
    """Template entry id → [(township, template changed beneath its adjustment)] of townships that
    adjusted that line; ``township_ids`` (a SELECT or list) limits the townships looked at."""
    stmt = (select(DutyAdjustment).where(DutyAdjustment.template_entry_id.is_not(None))
            .options(selectinload(DutyAdjustment.township), selectinload(DutyAdjustment.template_entry)
                     .selectinload(DutyTemplateEntry.duty))
            .order_by(DutyAdjustment.township_id, DutyAdjustment.id))
    if township_ids is not None:
        stmt = stmt.where(DutyAdjustment.township_id.in_(township_ids))
    impact: dict[int, dict[int, tuple[Region, bool]]] = {}
    for adj in session.scalars(stmt):
        entry = adj.template_entry
        if entry is None:
            continue
        changed = adj.base_post_title is not None and (entry.post_title, entry.text) != (
            adj.base_post_title, adj.base_wording)
        per = impact.setdefault(entry.id, {})
        _, before = per.get(adj.township_id, (adj.township, False))
        per[adj.township_id] = (adj.township, before or changed)
    return {eid: list(per.values()) for eid, per in impact.items()}
