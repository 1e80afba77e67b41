"""The merged office's organisation: posts, appointments, rooms and service windows."""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, Numeric, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import PostSide, QualificationKind, RoomKind, VillageRole
from .people import Person, Qualification
from .region import Region


class PostType(TimestampMixin, Base):
    """The city's post catalogue (岗位目录): per post type its 编制数 and the qualification it requires.

    City-level settings: clerks read them and pick a type for each post; only a city admin changes them.
    """

    __tablename__ = "post_type"
    __table_args__ = (
        enum_check("side", PostSide),
        enum_check("required_qualification", QualificationKind, nullable=True),
        enum_check("village_role", VillageRole, nullable=True),
    )
    __scope__ = None
    __admin__ = {
        "name": "岗位目录", "category": "组织机构", "order": 5,
        "list": ["title", "side", "headcount", "required_qualification", "village_role", "sort_order"],
        "search": ["title"],
        "filters": ["side"],
        "form": ["title", "side", "headcount", "required_qualification", "village_role", "sort_order"],
        "sort": "sort_order",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(60), nullable=False, unique=True, info={"label": "岗位类别"})
    side: Mapped[str] = enum_column(PostSide, "所属")
    headcount: Mapped[int] = mapped_column(Integer, nullable=False, default=1, info={
        "label": "编制数", "min": 0, "max": 99,
        "description": "每个乡镇(或村)此类岗位同时在任的最多人数"})
    required_qualification: Mapped[str | None] = enum_column(
        QualificationKind, "任职资格要求", nullable=True,
        description="设置后,无有效资格的人员不能任此类岗位")
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "排序"})
    village_role: Mapped[str | None] = enum_column(
        VillageRole, "村级职务", nullable=True,
        description="村级岗位在“一部一站”中的角色:村服务站站长由村党组织负责人担任,民兵连(排)长兼任村服务站干事")

    def __str__(self) -> str:
        return self.title


class Post(TimestampMixin, Base):
    """A post (岗位) of a township or village office; ``parent`` is the org-chart edge (reports to / 分管)."""

    __tablename__ = "post"
    __table_args__ = (
        enum_check("side", PostSide),
    )
    __scope__ = "region_id"
    __admin__ = {
        "name": "岗位", "category": "组织机构", "order": 10,
        "list": ["title", "post_type", "side", "region", "parent", "sort_order"],
        "search": ["title"],
        "filters": ["region", "side"],
        "form": ["region", "post_type", "title", "side", "parent", "sort_order"],
        "sort": "sort_order",
    }
    __delete_protect__ = ("Appointment",)  # holders' records; child posts and plan items only unlink

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                           info={"label": "所属乡镇/村", "levels": ("township", "village")})
    title: Mapped[str] = mapped_column(String(60), nullable=False, info={"label": "岗位名称"})
    side: Mapped[str] = enum_column(PostSide, "所属")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"), index=True,
                                                  info={"label": "上级岗位"})
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0, info={"label": "排序"})
    post_type_id: Mapped[int] = mapped_column(ForeignKey("post_type.id"), nullable=False, index=True,
                                              info={"label": "岗位类别"})

    region: Mapped[Region] = relationship(info={"label": "所属乡镇/村", "levels": ("township", "village")})
    post_type: Mapped[PostType] = relationship(lazy="joined", info={"label": "岗位类别"})
    parent: Mapped[Post | None] = relationship(remote_side=[id], back_populates="children",
                                               info={"label": "上级岗位(分管)"})
    children: Mapped[list[Post]] = relationship(back_populates="parent")
    appointments: Mapped[list[Appointment]] = relationship(back_populates="post",
                                                           cascade="all, delete-orphan")

    def __str__(self) -> str:
        return f"{self.title}({self.region.name})" if self.region is not None else self.title

    @property
    def headcount(self) -> int:
        """编制数, from the city's catalogue."""
        return self.post_type.headcount if self.post_type is not None else 1

    @property
    def required_qualification(self) -> str | None:
        return self.post_type.required_qualification if self.post_type is not None else None

    def check(self) -> dict[str, str]:
        """A post takes its type from the catalogue (by title when none was picked) and its title from it."""
        if self.post_type is None and self.post_type_id is None and self.title:
            session = object_session(self) or object_session(self.region) if self.region is not None else None
            found = session.scalars(select(PostType).where(PostType.title == self.title)).first() \
                if session is not None else None
            if found is None:
                return {"post_type": f"“{self.title}”不在全市岗位目录中,请选择岗位类别"}
            self.post_type = found
        if not self.title and self.post_type is not None:
            self.title = self.post_type.title
        if self.parent is self:
            return {"parent": "上级岗位不能是自身"}
        return {}

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
        if post is not None and not errors:
            errors.update(self._headcount_error(post))
        return errors

    def _headcount_error(self, post: Post) -> dict[str, str]:
        """编制数: current appointments on posts of this type in this region, this one included, on any day
        of this appointment's term, never exceed the catalogue's headcount (ended appointments don't count)."""
        session = object_session(self) or object_session(post)
        if session is None or post.post_type is None or self.end_on is not None and self.end_on < self.start_on:
            return {}
        day = self.start_on or datetime.date.today()
        stmt = (select(Appointment.id).join(Post, Appointment.post_id == Post.id)
                .where(Post.region_id == post.region_id, Post.post_type_id == post.post_type.id,
                       (Appointment.end_on.is_(None)) | (Appointment.end_on >= day)))
        if self.end_on is not None:
            stmt = stmt.where(Appointment.start_on <= self.end_on)
        if self.id is not None:
            stmt = stmt.where(Appointment.id != self.id)
        others = len(session.scalars(stmt).all())
        if others + 1 > post.post_type.headcount:
            return {"post": f"“{post.post_type.title}”编制数为 {post.post_type.headcount},"
                            f"已有 {others} 人在任,不能再任命。请先为现任人员填写离任日期"}
        return {}


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
