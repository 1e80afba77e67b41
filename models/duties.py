"""Duties (职责): the city-wide template and per-township adjustments.

``effective_duties`` (in ``models/duty_logic.py``) merges the two; it is the one place that rule lives.
"""

from __future__ import annotations

import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from .base import Base, TimestampMixin, enum_check, enum_column, utcnow
from .enums import AdjustmentAction, DutyCategory
from .org import Post
from .region import Region


class Duty(TimestampMixin, Base):
    """A duty; ``region`` is empty for city-wide duties and set for a township's local duty."""

    __tablename__ = "duty"
    __table_args__ = (enum_check("category", DutyCategory),)
    __scope__ = "region_id"
    __scope_null_is_global__ = True
    __admin__ = {
        "name": "职责", "category": "职责与计划", "order": 10,
        "list": ["name", "category", "region", "description"],
        "search": ["name", "description"],
        "filters": ["category", "region"],
        "form": ["name", "category", "region", "description"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False, info={"label": "职责名称"})
    category: Mapped[str] = enum_column(DutyCategory, "职责类别")
    description: Mapped[str | None] = mapped_column(Text, info={"label": "说明"})
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True,
                                                  info={"label": "适用乡镇",
                                                        "description": "留空为全市通用职责"})

    region: Mapped[Region | None] = relationship(info={"label": "适用乡镇"})

    def __str__(self) -> str:
        return self.name


class DutyTemplateEntry(TimestampMixin, Base):
    """One line of the city-wide duty template: post title → duty, in order."""

    __tablename__ = "duty_template_entry"
    __scope__ = None
    __admin__ = {
        "name": "职责模板", "category": "职责与计划", "order": 20,
        "menu": False,  # reached from 职责模板维护
        "list": ["post_title", "duty", "sort_order", "wording"],
        "search": ["post_title"],
        "filters": ["post_title"],
        "form": ["post_title", "duty", "wording", "sort_order"],
        "sort": "sort_order",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    post_title: Mapped[str] = mapped_column(String(60), nullable=False, index=True,
                                            info={"label": "岗位名称"})
    duty_id: Mapped[int] = mapped_column(ForeignKey("duty.id"), nullable=False, index=True,
                                         info={"label": "职责"})
    wording: Mapped[str | None] = mapped_column(Text, info={"label": "表述",
                                                           "description": "留空则用职责名称"})
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "排序"})

    duty: Mapped[Duty] = relationship(info={"label": "职责"})

    def __str__(self) -> str:
        return f"{self.post_title} · {self.duty.name if self.duty else ''}"

    @property
    def text(self) -> str:
        """What the line says: its own wording, else the duty's name."""
        return self.wording or (self.duty.name if self.duty else "")

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (self.post_title or "").strip():
            errors["post_title"] = "请填写岗位名称"
        return errors


class DutyAdjustment(TimestampMixin, Base):
    """A township's change to the template (职责调整): add, remove, move or reword one duty."""

    __tablename__ = "duty_adjustment"
    __table_args__ = (enum_check("action", AdjustmentAction),)
    __scope__ = "township_id"
    __admin__ = {
        "name": "职责调整", "category": "职责与计划", "order": 30,
        "menu": False,  # reached from 职责分工
        "list": ["township", "action", "duty", "target_post", "new_wording", "reason", "author", "made_at"],
        "search": ["reason", "new_wording"],
        "filters": ["township", "action"],
        "form": ["township", "action", "duty", "target_post", "new_wording", "reason"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道"})
    action: Mapped[str] = enum_column(AdjustmentAction, "调整方式")
    duty_id: Mapped[int] = mapped_column(ForeignKey("duty.id"), nullable=False, index=True,
                                         info={"label": "职责"})
    target_post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"),
                                                       info={"label": "目标岗位",
                                                             "description": "新增或调整岗位时填写"})
    new_wording: Mapped[str | None] = mapped_column(Text, info={"label": "新表述"})
    reason: Mapped[str] = mapped_column(Text, nullable=False, info={"label": "调整理由"})
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                  info={"label": "调整人"})
    made_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                       info={"label": "调整时间"})
    # The template line adjusted and what it said then: a later difference flags "模板已更新".
    template_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("duty_template_entry.id", ondelete="SET NULL"), index=True, info={"label": "模板条目"})
    base_post_title: Mapped[str | None] = mapped_column(String(60), info={"label": "调整时模板岗位"})
    base_wording: Mapped[str | None] = mapped_column(Text, info={"label": "调整时模板表述"})

    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})
    duty: Mapped[Duty] = relationship(info={"label": "职责"})
    target_post: Mapped[Post | None] = relationship(info={"label": "目标岗位"})
    author = relationship("User", info={"label": "调整人", "cross_township": True})
    template_entry: Mapped[DutyTemplateEntry | None] = relationship(info={"label": "模板条目"})

    def __str__(self) -> str:
        return f"{AdjustmentAction.label_of(self.action)} {self.duty.name if self.duty else ''}"

    def check(self) -> dict[str, str]:
        """The rules of a township adjustment; field name → Chinese message."""
        errors: dict[str, str] = {}
        if not (self.reason or "").strip():
            errors["reason"] = "请填写调整理由"
        if self.action not in AdjustmentAction.labels():
            errors["action"] = "请选择调整方式"
            return errors
        township_id = self.township.id if self.township is not None else self.township_id
        target = self.target_post
        if self.action in (AdjustmentAction.ADD.value, AdjustmentAction.MOVE.value):
            if target is None:
                errors["target_post"] = "请选择目标岗位"
            elif township_id is not None and (target.region.id if target.region is not None
                                              else target.region_id) != township_id:
                errors["target_post"] = "目标岗位必须是本乡镇(街道)的岗位"
        if self.action == AdjustmentAction.REWORD.value and not (self.new_wording or "").strip():
            errors["new_wording"] = "请填写新的职责表述"
        duty_id = self.duty.id if self.duty is not None else self.duty_id
        session = object_session(self) or (object_session(self.township) if self.township else None)
        if self.action != AdjustmentAction.ADD.value and session is not None:
            if duty_id is None or session.scalar(select(DutyTemplateEntry.id).where(
                    DutyTemplateEntry.duty_id == duty_id).limit(1)) is None:
                errors["duty"] = "全市职责模板中没有这项职责,只能以“新增”方式添加"
        return errors


@event.listens_for(DutyAdjustment, "before_insert")
def _link_template_line(mapper, connection, adj: DutyAdjustment) -> None:
    """Whatever screen creates an adjustment, remember the template line beneath it as it is now."""
    if adj.action == AdjustmentAction.ADD.value:
        return
    entry_t, duty_t = DutyTemplateEntry.__table__, Duty.__table__
    stmt = (select(entry_t.c.id, entry_t.c.post_title, entry_t.c.wording, duty_t.c.name)
            .join(duty_t, duty_t.c.id == entry_t.c.duty_id))
    if adj.template_entry_id is not None:
        stmt = stmt.where(entry_t.c.id == adj.template_entry_id)
    else:
        duty_id = adj.duty.id if adj.duty is not None else adj.duty_id
        stmt = stmt.where(entry_t.c.duty_id == duty_id).order_by(entry_t.c.sort_order, entry_t.c.id)
    row = connection.execute(stmt.limit(1)).first()
    if row is None:
        return
    adj.template_entry_id = row.id
    if adj.base_post_title is None and adj.base_wording is None:
        adj.base_post_title, adj.base_wording = row.post_title, row.wording or row.name
