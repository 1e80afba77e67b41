"""Print settings per township (低代码): paper, title, footer and the sections of the wall chart."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, LabeledEnum, TimestampMixin, enum_check, enum_column
from .region import Region


class PaperSize(LabeledEnum):
    A3 = ("A3", "A3")
    A4 = ("A4", "A4")
    A2 = ("A2", "A2")


class PrintSettings(TimestampMixin, Base):
    """How one township's printables look; a township without a row prints with the defaults."""

    __tablename__ = "print_settings"
    __table_args__ = (enum_check("paper_size", PaperSize),)
    __scope__ = "township_id"
    __admin__ = {
        "name": "打印设置", "category": "打印", "order": 90,
        "list": ["township", "paper_size", "title", "footer_text", "show_duties", "show_plan", "show_rooms"],
        "search": ["title", "footer_text"],
        "filters": ["township", "paper_size"],
        "form": ["township", "paper_size", "title", "footer_text", "show_duties", "show_plan", "show_rooms"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, unique=True,
                                             info={"label": "乡镇/街道", "levels": ("township",)})
    paper_size: Mapped[str] = enum_column(PaperSize, "架构图纸张", default=PaperSize.A3,
                                          description="架构图横向打印;默认 A3")
    title: Mapped[str | None] = mapped_column(String(120), info={
        "label": "标题", "description": "留空则为“<乡镇>人民武装部 退役军人服务站 合署办公架构图”"})
    footer_text: Mapped[str | None] = mapped_column(String(200), info={"label": "页脚文字"})
    show_duties: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                              info={"label": "显示人员职责分工"})
    show_plan: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                            info={"label": "显示年度大项工作计划"})
    show_rooms: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0",
                                             info={"label": "显示功能厅室与服务窗口"})

    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})

    def __str__(self) -> str:
        return f"{self.township.name if self.township else ''} 打印设置"
