"""The merged office's organisation: posts, appointments, rooms and service windows."""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, Numeric, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import PostSide, QualificationKind, RoomKind
from .people import Person, Qualification
from .region import Region


class Post(TimestampMixin, Base):
    """A post (岗位) of a township or village office; ``parent`` is the org-chart edge (reports to / 分管)."""

    __tablename__ = "post"
    __table_args__ = (
        enum_check("side", PostSide),
        enum_check("required_qualification", QualificationKind, nullable=True),
    )
    __scope__ = "region_id"
    __admin__ = {
        "name": "岗位", "category": "组织机构", "order": 10,
        "list": ["title", "side", "region", "parent", "sort_order", "headcount", "required_qualification"],
        "search": ["title"],
        "filters": ["region", "side"],
        "form": ["region", "title", "side", "parent", "sort_order", "headcount", "required_qualification"],
        "sort": "sort_order",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                           info={"label": "所属乡镇/村", "levels": ("township", "village")})
    title: Mapped[str] = mapped_column(String(60), nullable=False, info={"label": "岗位名称"})
    side: Mapped[str] = enum_column(PostSide, "所属")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"), index=True,
                                                  info={"label": "上级岗位"})
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "排序"})
    headcount: Mapped[int] = mapped_column(Integer, nullable=False, default=1, info={"label": "编制数"})
    required_qualification: Mapped[str | None] = enum_column(
        QualificationKind, "任职资格要求", nullable=True,
        description="设置后,无有效资格的人员不能任此岗位")

    region: Mapped[Region] = relationship(info={"label": "所属乡镇/村", "levels": ("township", "village")})
    parent: Mapped[Post | None] = relationship(remote_side=[id], back_populates="children",
                                               info={"label": "上级岗位(分管)"})
    children: Mapped[list[Post]] = relationship(back_populates="parent")
    appointments: Mapped[list[Appointment]] = relationship(back_populates="post",
                                                           cascade="all, delete-orphan")

    def __str__(self) -> str:
        return f"{self.title}({self.region.name})" if self.region is not None else self.title

    def current_appointments(self, day: datetime.date | None = None) -> list[Appointment]:
        day = day or datetime.date.today()
        return [a for a in self.appointments if a.is_current(day)]


class Appointment(TimestampMixin, Base):
    """A person holding a post (任职), maybe concurrently (兼任)."""

    __tablename__ = "appointment"
    __scope__ = "post.region_id"
    __admin__ = {
        "name": "任职", "category": "组织机构", "order": 20,
        "list": ["person", "post", "start_on", "end_on", "concurrent"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials", "post.title"],
        "filters": ["concurrent", "start_on", "end_on"],
        "form": ["post", "person", "start_on", "end_on", "concurrent"],
        "ajax": ["person"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "人员"})
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), nullable=False,
                                         index=True, info={"label": "岗位"})
    start_on: Mapped[datetime.date] = mapped_column(Date, nullable=False, default=datetime.date.today,
                                                    info={"label": "任职日期"})
    end_on: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "离任日期",
                                                                    "description": "留空表示现任"})
    concurrent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                             info={"label": "兼任"})

    person: Mapped[Person] = relationship(info={"label": "人员"})
    post: Mapped[Post] = relationship(back_populates="appointments", info={"label": "岗位"})

    def __str__(self) -> str:
        who = self.person.name if self.person else ""
        what = self.post.title if self.post else ""
        return f"{who} · {what}{'(兼)' if self.concurrent else ''}"

    def is_current(self, day: datetime.date) -> bool:
        return self.start_on <= day and (self.end_on is None or self.end_on >= day)

    def check(self) -> dict[str, str]:
        """Business rules a form cannot express; field name → Chinese message."""
        errors: dict[str, str] = {}
        if self.end_on is not None and self.start_on is not None and self.end_on < self.start_on:
            errors["end_on"] = "离任日期不能早于任职日期"
        post, person = self.post, self.person
        if post is not None and person is not None and post.required_qualification:
            day = self.start_on or datetime.date.today()
            session = object_session(self) or object_session(post)
            quals = session.scalars(select(Qualification).where(
                Qualification.person_id == person.id,
                Qualification.kind == post.required_qualification)).all() if person.id and session else []
            if not any(q.valid_on(day) for q in quals):
                kind = QualificationKind.label_of(post.required_qualification)
                errors["person"] = (f"{person.name} 没有有效的“{kind}”,不能任“{post.title}”。"
                                    f"请先在“资格认证”中登记其资格认证考核结果")
        return errors


class Room(TimestampMixin, Base):
    __tablename__ = "room"
    __table_args__ = (enum_check("kind", RoomKind),)
    __scope__ = "region_id"
    __admin__ = {
        "name": "功能厅室", "category": "组织机构", "order": 30,
        "list": ["region", "kind", "name", "area", "shared"],
        "search": ["name"],
        "filters": ["region", "kind", "shared"],
        "form": ["region", "kind", "name", "area", "shared"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                           info={"label": "所属乡镇/村", "levels": ("township", "village")})
    kind: Mapped[str] = enum_column(RoomKind, "类别")
    name: Mapped[str] = mapped_column(String(60), nullable=False, info={"label": "名称"})
    area: Mapped[float | None] = mapped_column(Numeric(8, 1), info={"label": "面积(㎡)"})
    shared: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, info={"label": "部站共用"})

    region: Mapped[Region] = relationship(info={"label": "所属乡镇/村", "levels": ("township", "village")})

    def __str__(self) -> str:
        return self.name


class ServiceWindow(TimestampMixin, Base):
    __tablename__ = "service_window"
    __scope__ = "region_id"
    __admin__ = {
        "name": "服务窗口", "category": "组织机构", "order": 40,
        "list": ["region", "name", "services"],
        "search": ["name", "services"],
        "filters": ["region"],
        "form": ["region", "name", "services"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                           info={"label": "所属乡镇/村", "levels": ("township", "village")})
    name: Mapped[str] = mapped_column(String(60), nullable=False, info={"label": "窗口名称"})
    services: Mapped[str | None] = mapped_column(Text, info={"label": "办理事项"})

    region: Mapped[Region] = relationship(info={"label": "所属乡镇/村", "levels": ("township", "village")})

    def __str__(self) -> str:
        return self.name
