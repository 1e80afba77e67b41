"""``effective_duties``: the city template merged with one township's adjustments.

The one place this rule lives; every screen, export and printable calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from .duties import DutyAdjustment, DutyTemplateEntry
from .enums import AdjustmentAction
from .org import Post
from .region import Region

TEMPLATE, ADDED, ADJUSTED, REMOVED = "template", "added", "adjusted", "removed"
STATUS_LABELS = {TEMPLATE: "模板", ADDED: "新增", ADJUSTED: "调整", REMOVED: "移除"}


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
    adjustment_id: int | None = None
    template_changed: bool = False  # the template line beneath an adjustment changed after it
    sort_order: int = 0

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def effective_duties(township: Region, *, include_removed: bool = False,
                     session: Session | None = None) -> list[EffectiveDuty]:
    """The township's duty table: template lines, then its adjustments applied in time order."""
    session = session or object_session(township)
    posts = {p.title: p for p in session.scalars(select(Post).where(Post.region_id == township.id))}
    posts_by_id = {p.id: p for p in posts.values()}
    entries = session.scalars(select(DutyTemplateEntry).options(selectinload(DutyTemplateEntry.duty))
                              .order_by(DutyTemplateEntry.sort_order, DutyTemplateEntry.id)).all()
    lines: list[EffectiveDuty] = []
    by_duty: dict[int, EffectiveDuty] = {}
    for entry in entries:
        post = posts.get(entry.post_title)
        line = EffectiveDuty(entry.post_title, post.id if post else None, entry.duty_id, entry.duty.name,
                             entry.wording or entry.duty.name, entry.duty.category, TEMPLATE,
                             sort_order=entry.sort_order)
        lines.append(line)
        by_duty.setdefault(entry.duty_id, line)
    adjustments = session.scalars(select(DutyAdjustment).where(DutyAdjustment.township_id == township.id)
                                  .options(selectinload(DutyAdjustment.duty))
                                  .order_by(DutyAdjustment.made_at, DutyAdjustment.id)).all()
    for adj in adjustments:
        line = by_duty.get(adj.duty_id)
        target = posts_by_id.get(adj.target_post_id) if adj.target_post_id else None
        if adj.action == AdjustmentAction.ADD.value:
            new = EffectiveDuty(target.title if target else "", target.id if target else None, adj.duty_id,
                                adj.duty.name, adj.new_wording or adj.duty.name, adj.duty.category, ADDED,
                                adjustment_id=adj.id, sort_order=10_000 + adj.id)
            lines.append(new)
            by_duty[adj.duty_id] = new
        elif line is None:
            continue
        elif adj.action == AdjustmentAction.REMOVE.value:
            line.status, line.adjustment_id = REMOVED, adj.id
        elif adj.action == AdjustmentAction.MOVE.value and target is not None:
            line.post_title, line.post_id = target.title, target.id
            line.status = ADJUSTED if line.status == TEMPLATE else line.status
            line.adjustment_id = adj.id
        elif adj.action == AdjustmentAction.REWORD.value and adj.new_wording:
            line.wording = adj.new_wording
            line.status = ADJUSTED if line.status == TEMPLATE else line.status
            line.adjustment_id = adj.id
    if not include_removed:
        lines = [ln for ln in lines if ln.status != REMOVED]
    return lines
