"""Annual major work plans (年度大项工作计划) and their items."""

from __future__ import annotations

import datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import PlanStatus
from .org import Post
from .region import Region


class AnnualPlan(TimestampMixin, Base):
    __tablename__ = "annual_plan"
    __table_args__ = (
        UniqueConstraint("township_id", "year", name="uq_annual_plan_township_year"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )
    __scope__ = "township_id"
    __admin__ = {
        "name": "年度工作计划", "category": "职责与计划", "order": 40,
        "list": ["township", "year", "title"],
        "search": ["title"],
        "filters": ["township", "year"],
        "form": ["township", "year", "title"],
        "inline": ["items"],
        "sort": "year",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道"})
    year: Mapped[int] = mapped_column(Integer, nullable=False, info={"label": "年度",
                                                                    "min": 2000, "max": 2100})
    title: Mapped[str] = mapped_column(String(120), nullable=False, info={"label": "计划名称"})

    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})
    items: Mapped[list[PlanItem]] = relationship(back_populates="plan", cascade="all, delete-orphan",
                                                 order_by="(PlanItem.month, PlanItem.id)")

    def __str__(self) -> str:
        return f"{self.year} {self.title}"


class PlanItem(TimestampMixin, Base):
    __tablename__ = "plan_item"
    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12", name="month_range"),
        enum_check("status", PlanStatus),
    )
    __scope__ = "plan.township_id"
    __admin__ = {
        "name": "计划事项", "category": "职责与计划", "order": 50,
        "list": ["plan", "month", "title", "lead_post", "status", "completed_on"],
        "search": ["title", "note"],
        "filters": ["month", "status"],
        "form": ["plan", "month", "title", "lead_post", "status", "completed_on", "note"],
        "sort": "month",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("annual_plan.id", ondelete="CASCADE"), nullable=False,
                                         index=True, info={"label": "所属计划"})
    month: Mapped[int] = mapped_column(Integer, nullable=False, info={"label": "月份", "min": 1, "max": 12})
    title: Mapped[str] = mapped_column(String(200), nullable=False, info={"label": "工作事项"})
    lead_post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"),
                                                     info={"label": "牵头岗位"})
    status: Mapped[str] = enum_column(PlanStatus, "状态", default=PlanStatus.PLANNED)
    completed_on: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "完成日期"})
    note: Mapped[str | None] = mapped_column(Text, info={"label": "完成情况说明"})

    plan: Mapped[AnnualPlan] = relationship(back_populates="items", info={"label": "所属计划"})
    lead_post: Mapped[Post | None] = relationship(info={"label": "牵头岗位"})

    def __str__(self) -> str:
        return f"{self.month}月 {self.title}"
