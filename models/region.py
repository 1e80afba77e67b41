"""Administrative regions (行政区划) with a materialised path for index-friendly subtree queries."""

from __future__ import annotations

import re

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import RegionLevel

CODE_RE = re.compile(r"^\d{12}$")
LEVEL_ORDER = [lv.value for lv in RegionLevel]


class Region(TimestampMixin, Base):
    """A region; ``path`` is the codes from the root down, each followed by '/'.

    "Everything under X" is ``Region.path.startswith(x.path)``: one indexed prefix scan.
    """

    __tablename__ = "region"
    __table_args__ = (
        enum_check("level", RegionLevel),
        Index("ix_region_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )
    __scope__ = "self"
    __admin__ = {
        "name": "行政区划", "category": "组织机构", "order": 90,
        "list": ["code", "name", "level", "parent"],
        "search": ["code", "name"],
        "filters": ["level"],
        "form": ["code", "name", "level", "parent"],
        "sort": "code",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True, nullable=False,
                                      info={"label": "区划代码", "description": "12 位统计用区划代码"})
    name: Mapped[str] = mapped_column(String(64), nullable=False, info={"label": "名称"})
    level: Mapped[str] = enum_column(RegionLevel, "级别")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True,
                                                 info={"label": "上级区划"})
    path: Mapped[str] = mapped_column(String(160), nullable=False, info={"label": "路径"})

    parent: Mapped[Region | None] = relationship(remote_side=[id], back_populates="children",
                                                 info={"label": "上级区划"})
    children: Mapped[list[Region]] = relationship(back_populates="parent")

    def __str__(self) -> str:
        return self.name

    def compute_path(self) -> str:
        parent = self.parent
        if parent is None and self.parent_id is not None:  # only the id was set (imports, fixtures)
            from sqlalchemy.orm import object_session

            session = object_session(self)
            parent = session.get(Region, self.parent_id) if session is not None else None
        return (parent.path if parent is not None else "") + self.code + "/"

    def check(self) -> dict[str, str]:
        """Code format, level below the parent's, and the materialised path (descendants follow)."""
        if not valid_region_code(self.code):
            return {"code": "区划代码应为 12 位数字"}
        if self.parent is not None:
            if self.parent is self or (self.path and self.parent.path.startswith(self.path)):
                return {"parent": "上级区划不能是自身或其下级"}
            if LEVEL_ORDER.index(self.level) <= LEVEL_ORDER.index(self.parent.level):
                return {"level": "级别必须低于上级区划的级别"}
        old, new = self.path, self.compute_path()
        if old and old != new:
            self.move_descendants(old, new)
        self.path = new
        return {}

    def move_descendants(self, old: str, new: str) -> None:
        from sqlalchemy import func, update
        from sqlalchemy.orm import object_session

        session = object_session(self)
        if session is not None and self.id is not None:
            session.execute(update(Region).where(Region.path.like(old + "%"), Region.id != self.id)
                            .values(path=new + func.substr(Region.path, len(old) + 1))
                            .execution_options(synchronize_session=False))

    def township(self) -> Region | None:
        """The township this region is or lies in."""
        node: Region | None = self
        while node is not None and node.level not in (RegionLevel.TOWNSHIP.value,):
            if node.level in (RegionLevel.COUNTY.value, RegionLevel.CITY.value, RegionLevel.PROVINCE.value):
                return None
            node = node.parent
        return node


def valid_region_code(code: str) -> bool:
    return bool(CODE_RE.match(code or ""))
