"""Annual major work plans (年度大项工作计划), their items, the city plan template and progress maths."""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass, field

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

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
        "menu": False,  # reached from 年度计划进度
        "list": ["township", "year", "title"],
        "search": ["title"],
        "filters": ["township", "year"],
        "form": ["township", "year", "title"],
        "inline": ["items"],
        "sort": "-year",
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

    def check(self) -> dict[str, str]:
        message = plan_year_error(self.year)
        return {"year": message} if message else {}


class PlanItem(TimestampMixin, Base):
    __tablename__ = "plan_item"
    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12", name="month_range"),
        enum_check("status", PlanStatus),
    )
    __scope__ = "plan.township_id"
    __admin__ = {
        "name": "计划事项", "category": "职责与计划", "order": 50,
        "menu": False,  # reached from 年度计划进度
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

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.month is None or not 1 <= self.month <= 12:
            errors["month"] = "月份应为 1 至 12"
        plan = self.plan
        lead = self.lead_post
        lead_region = (lead.region.id if lead.region is not None else lead.region_id) if lead is not None else None
        plan_region = (plan.township.id if plan.township is not None else plan.township_id) if plan else None
        if lead is not None and plan is not None and lead_region != plan_region:
            errors["lead_post"] = "牵头岗位必须是本乡镇(街道)的岗位"
        return errors


class PlanTemplateItem(TimestampMixin, Base):
    """One line of the city's annual plan template (全市年度工作计划模板): month → work item."""

    __tablename__ = "plan_template_item"
    __table_args__ = (CheckConstraint("month BETWEEN 1 AND 12", name="month_range"),)
    __scope__ = None
    __admin__ = {
        "name": "年度计划模板", "category": "职责与计划", "order": 45,
        "menu": "edit",  # the city's template: in the menu of those who maintain it
        "list": ["month", "title", "lead_post_title", "sort_order"],
        "search": ["title", "lead_post_title"],
        "filters": ["month"],
        "form": ["month", "title", "lead_post_title", "sort_order"],
        "sort": "month",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[int] = mapped_column(Integer, nullable=False, info={"label": "月份", "min": 1, "max": 12})
    title: Mapped[str] = mapped_column(String(200), nullable=False, info={"label": "工作事项"})
    lead_post_title: Mapped[str | None] = mapped_column(String(60), info={
        "label": "牵头岗位名称", "description": "生成乡镇计划时按名称对应到本乡镇的岗位"})
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "排序"})

    def __str__(self) -> str:
        return f"{self.month}月 {self.title}"

    def check(self) -> dict[str, str]:
        if self.month is None or not 1 <= self.month <= 12:
            return {"month": "月份应为 1 至 12"}
        return {}


# The working year of a merged office (DOMAIN.md): (month, item, lead post title) for seeding the city
# plan template; the city edits it afterwards on the generated 年度计划模板 screen.
DEFAULT_PLAN_TEMPLATE: tuple[tuple[int, str, str], ...] = (
    (1, "春节走访慰问优抚对象和退役军人", "服务站站长"),
    (2, "上半年征兵宣传发动与兵役登记动员", "专职人民武装干部"),
    (3, "上半年新兵欢送、民兵整组", "武装部部长"),
    (3, "春季退役士兵返乡报到接收", "服务站站长"),
    (4, "民兵整组点验、应急分队编组", "武装部部长"),
    (5, "民兵军事训练、退役军人就业创业培训", "专职人民武装干部"),
    (6, "兵役登记截止(6月30日)、汛期应急演练", "专职人民武装干部"),
    (7, "下半年征兵体检政审", "武装部部长"),
    (8, "“八一”建军节走访慰问与拥军活动", "服务站站长"),
    (9, "下半年新兵欢送、秋季退役士兵返乡报到接收", "服务站站长"),
    (10, "国防教育进校园、光荣牌悬挂核查", "干事"),
    (11, "优抚对象抚恤补助核发、档案整理", "干事"),
    (12, "年终总结表彰", "武装部部长"),
)


def seed_plan_template(session: Session) -> int:
    """Fill an empty city plan template with ``DEFAULT_PLAN_TEMPLATE``; the number of lines added."""
    if session.scalar(select(PlanTemplateItem.id).limit(1)) is not None:
        return 0
    for i, (month, title, post) in enumerate(DEFAULT_PLAN_TEMPLATE):
        session.add(PlanTemplateItem(month=month, title=title, lead_post_title=post, sort_order=i))
    session.flush()
    return len(DEFAULT_PLAN_TEMPLATE)


# -- rules and maths (pure: every input explicit) ------------------------------------------------------

PLAN_YEAR_MIN, PLAN_YEAR_MAX = 2000, 2100
CLOSED_STATUSES = (PlanStatus.DONE.value, PlanStatus.DROPPED.value)


def plan_year_error(year) -> str | None:
    """The Chinese message for an unacceptable plan year, or None."""
    if not isinstance(year, int) or isinstance(year, bool):
        return "请填写年度(四位数字)"
    if not PLAN_YEAR_MIN <= year <= PLAN_YEAR_MAX:
        return f"年度应在 {PLAN_YEAR_MIN} 至 {PLAN_YEAR_MAX} 之间"
    return None


def month_end(year: int, month: int) -> datetime.date:
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def item_overdue(month: int, status: str, year: int, today: datetime.date) -> bool:
    """Overdue: the item's month is over and it is neither done nor dropped."""
    return status not in CLOSED_STATUSES and month_end(year, month) < today


@dataclass
class MonthProgress:
    month: int
    total: int = 0
    done: int = 0
    dropped: int = 0
    overdue: int = 0

    @property
    def counted(self) -> int:
        """Items that count towards completion (dropped ones do not)."""
        return self.total - self.dropped

    @property
    def percent(self) -> int | None:
        return round(100 * self.done / self.counted) if self.counted else None


@dataclass
class PlanProgress:
    year: int
    months: list[MonthProgress] = field(default_factory=list)
    overdue_ids: set[int] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(m.total for m in self.months)

    @property
    def done(self) -> int:
        return sum(m.done for m in self.months)

    @property
    def dropped(self) -> int:
        return sum(m.dropped for m in self.months)

    @property
    def overdue(self) -> int:
        return sum(m.overdue for m in self.months)

    @property
    def percent(self) -> int | None:
        counted = self.total - self.dropped
        return round(100 * self.done / counted) if counted else None


def plan_progress(items, year: int, today: datetime.date) -> PlanProgress:
    """Progress per month and overall; ``items`` need ``id``, ``month`` and ``status``."""
    progress = PlanProgress(year, [MonthProgress(m) for m in range(1, 13)])
    for item in items:
        month = progress.months[item.month - 1]
        month.total += 1
        if item.status == PlanStatus.DONE.value:
            month.done += 1
        elif item.status == PlanStatus.DROPPED.value:
            month.dropped += 1
        if item_overdue(item.month, item.status, year, today):
            month.overdue += 1
            progress.overdue_ids.add(item.id)
    return progress


def find_plan(session: Session, township: Region, year: int) -> AnnualPlan | None:
    return session.scalar(select(AnnualPlan).where(AnnualPlan.township_id == township.id,
                                                   AnnualPlan.year == year))


def instantiate_plan(session: Session, township: Region, year: int) -> tuple[AnnualPlan, bool]:
    """The township's plan for ``year`` from the city template; (plan, created).

    Once per township and year: an existing plan is returned untouched. A concurrent second request
    loses on the unique constraint and gets the winner's plan. Commits. Raises ValueError (Chinese
    message) for an unacceptable year.
    """
    message = plan_year_error(year)
    if message:
        raise ValueError(message)
    existing = find_plan(session, township, year)
    if existing is not None:
        return existing, False
    posts: dict[str, Post] = {}
    for post in session.scalars(select(Post).where(Post.region_id == township.id)
                                .order_by(Post.sort_order, Post.id)):
        posts.setdefault(post.title, post)
    plan = AnnualPlan(township_id=township.id, year=year, title=f"{township.name}{year}年度大项工作计划")
    template = session.scalars(select(PlanTemplateItem)
                              .order_by(PlanTemplateItem.month, PlanTemplateItem.sort_order,
                                        PlanTemplateItem.id)).all()
    for line in template:
        post = posts.get(line.lead_post_title or "")
        plan.items.append(PlanItem(month=line.month, title=line.title, lead_post=post,
                                   status=PlanStatus.PLANNED.value))
    session.add(plan)
    from admin_app.gate import WriteRefused  # local: the gate imports models

    try:
        session.commit()
    except (IntegrityError, WriteRefused):  # a double submit: the gate's unique check or the constraint
        session.rollback()
        existing = find_plan(session, township, year)
        if existing is None:
            raise
        return existing, False
    return plan, True
