"""People (人员): one row per human, who may be staff, veteran and militia member at once."""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import (
    DischargeType,
    Education,
    EmploymentStatus,
    Gender,
    MilitiaCategory,
    MilitiaRole,
    MilitiaUnitType,
    PoliticalStatus,
    QualificationKind,
    Service,
)
from .idnumber import IdNumberError, parse_id_number
from .region import Region


def name_pinyin(name: str) -> tuple[str, str]:
    """Full pinyin and initials of a name, lower case without tones: 周洪杰 → (zhouhongjie, zhj)."""
    from pypinyin import Style, lazy_pinyin  # its phrase data takes ~0.3 s to load: only when a name is set

    syllables = lazy_pinyin(name or "", style=Style.NORMAL, errors="ignore")
    return "".join(syllables).lower(), "".join(s[0] for s in syllables if s).lower()


class Person(TimestampMixin, Base):
    __tablename__ = "person"
    __table_args__ = (
        enum_check("gender", Gender, nullable=True),
        enum_check("political_status", PoliticalStatus, nullable=True),
        enum_check("education", Education, nullable=True),
    )
    __scope__ = "region_id"
    __sensitive__ = ("id_number", "birth_date", "phone", "address")  # policy: admin_app/privacy.py
    __admin__ = {
        "name": "人员", "category": "人员", "order": 10,
        "list": ["name", "gender", "id_number", "birth_date", "phone", "political_status", "region"],
        "search": ["name", "name_pinyin", "name_initials"],
        "search_exact": ["id_number"],
        "filters": ["region", "gender", "political_status", "education"],
        "form": ["name", "id_number", "gender", "birth_date", "ethnicity", "political_status",
                 "education", "phone", "region", "address", "notes"],
        "inline": ["veteran_profile"],
        "sort": "-id",
    }
    # Deleting a person that other rows still reference is refused with the list: nothing is lost silently.
    __delete_protect__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False, info={"label": "姓名"})
    name_pinyin: Mapped[str] = mapped_column(String(160), nullable=False, default="", index=True,
                                             info={"label": "姓名拼音"})
    name_initials: Mapped[str] = mapped_column(String(40), nullable=False, default="", index=True,
                                               info={"label": "拼音首字母"})
    gender: Mapped[str | None] = enum_column(Gender, "性别", nullable=True)
    ethnicity: Mapped[str | None] = mapped_column(String(20), default="汉族", info={"label": "民族"})
    id_number: Mapped[str | None] = mapped_column(
        String(18), unique=True, info={"label": "公民身份号码", "id_number": True,
                                       "description": "18 位,末位可为 X;填写后自动带出出生日期和性别"})
    birth_date: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "出生日期"})
    phone: Mapped[str | None] = mapped_column(String(20), info={"label": "联系电话", "phone": True})
    political_status: Mapped[str | None] = enum_column(PoliticalStatus, "政治面貌", nullable=True)
    education: Mapped[str | None] = enum_column(Education, "学历", nullable=True)
    address: Mapped[str | None] = mapped_column(String(200), info={"label": "户籍地址"})
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                           info={"label": "所属乡镇/村", "levels": ("township", "village")})
    notes: Mapped[str | None] = mapped_column(Text, info={"label": "备注"})

    region: Mapped[Region] = relationship(info={"label": "所属乡镇/村", "levels": ("township", "village")})
    veteran_profile: Mapped[VeteranProfile | None] = relationship(
        back_populates="person", uselist=False, cascade="all, delete-orphan")
    militia_memberships: Mapped[list[MilitiaMembership]] = relationship(
        back_populates="person", cascade="all, delete-orphan")
    qualifications: Mapped[list[Qualification]] = relationship(
        back_populates="person", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name

    def check(self) -> dict[str, str]:
        """Normalise the ID number and derive birth date and gender from it; field → message."""
        if not self.id_number:
            self.id_number = None
            return {}
        try:
            parsed = parse_id_number(self.id_number)
        except IdNumberError as exc:
            return {"id_number": str(exc)}
        self.id_number = parsed.number
        self.birth_date = parsed.birth_date
        self.gender = parsed.gender
        return {}


@event.listens_for(Person.name, "set", retval=False)
def _person_name_set(target: Person, value: str, oldvalue, initiator) -> None:
    target.name_pinyin, target.name_initials = name_pinyin(value)


class VeteranProfile(TimestampMixin, Base):
    __tablename__ = "veteran_profile"
    __table_args__ = (
        enum_check("service", Service, nullable=True),
        enum_check("discharge_type", DischargeType, nullable=True),
        enum_check("employment_status", EmploymentStatus, nullable=True),
    )
    __scope__ = "person.region_id"
    __admin__ = {
        "name": "退役军人", "category": "退役军人服务", "order": 20,
        "list": ["person", "service", "enlisted_on", "discharged_on", "discharge_type", "specialty",
                 "reported_home_on", "employment_status", "honor_plaque"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials", "specialty"],
        "filters": ["service", "discharge_type", "employment_status", "honor_plaque", "reported_home_on"],
        "form": ["person", "service", "enlisted_on", "discharged_on", "discharge_type", "rank_at_discharge",
                 "specialty", "military_quality", "reported_home_on", "employment_status", "hardship",
                 "honor_plaque"],
        "ajax": ["person"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True,
                                           nullable=False, info={"label": "人员"})
    service: Mapped[str | None] = enum_column(Service, "军种", nullable=True)
    enlisted_on: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "入伍时间"})
    discharged_on: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "退役时间"})
    discharge_type: Mapped[str | None] = enum_column(DischargeType, "退役方式", nullable=True)
    rank_at_discharge: Mapped[str | None] = mapped_column(String(40), info={"label": "退役时军衔/职级"})
    specialty: Mapped[str | None] = mapped_column(String(200), info={"label": "专业特长"})
    military_quality: Mapped[str | None] = mapped_column(String(200), info={"label": "军事素养"})
    reported_home_on: Mapped[datetime.date | None] = mapped_column(Date, index=True,
                                                                   info={"label": "返乡报到日期"})
    employment_status: Mapped[str | None] = enum_column(EmploymentStatus, "就业创业情况", nullable=True)
    hardship: Mapped[str | None] = mapped_column(Text, info={"label": "困难情况"})
    honor_plaque: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                               info={"label": "是否悬挂光荣牌"})

    person: Mapped[Person] = relationship(back_populates="veteran_profile", info={"label": "人员"})

    def __str__(self) -> str:
        return f"{self.person.name if self.person else ''}(退役军人)"


class MilitiaMembership(TimestampMixin, Base):
    __tablename__ = "militia_membership"
    __table_args__ = (
        UniqueConstraint("person_id", "year", name="uq_militia_membership_person_year"),
        enum_check("category", MilitiaCategory),
        enum_check("unit_type", MilitiaUnitType),
        enum_check("role", MilitiaRole),
    )
    __scope__ = "township_id"
    __admin__ = {
        "name": "民兵", "category": "民兵", "order": 30,
        "list": ["person", "township", "year", "category", "unit_type", "unit_name", "role"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials", "unit_name"],
        "filters": ["township", "year", "category", "unit_type", "role"],
        "form": ["person", "township", "year", "category", "unit_type", "unit_name", "role"],
        "ajax": ["person"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "人员"})
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道"})
    year: Mapped[int] = mapped_column(Integer, nullable=False, info={"label": "整组年度"})
    category: Mapped[str] = enum_column(MilitiaCategory, "民兵类别")
    unit_type: Mapped[str] = enum_column(MilitiaUnitType, "编组")
    unit_name: Mapped[str | None] = mapped_column(String(60), info={"label": "分队名称"})
    role: Mapped[str] = enum_column(MilitiaRole, "职务", default=MilitiaRole.MEMBER)

    person: Mapped[Person] = relationship(back_populates="militia_memberships", info={"label": "人员"})
    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})

    def __str__(self) -> str:
        return f"{self.person.name if self.person else ''} {self.year}"


class Qualification(TimestampMixin, Base):
    __tablename__ = "qualification"
    __table_args__ = (enum_check("kind", QualificationKind),)
    __scope__ = "person.region_id"
    __admin__ = {
        "name": "资格认证", "category": "人员", "order": 40,
        "list": ["person", "kind", "passed_on", "certificate_no", "valid_until"],
        "search": ["person.name", "person.name_pinyin", "certificate_no"],
        "filters": ["kind", "passed_on"],
        "form": ["person", "kind", "passed_on", "certificate_no", "valid_until"],
        "ajax": ["person"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "人员"})
    kind: Mapped[str] = enum_column(QualificationKind, "资格类别", default=QualificationKind.PAF_CADRE)
    passed_on: Mapped[datetime.date] = mapped_column(Date, nullable=False, info={"label": "通过日期"})
    certificate_no: Mapped[str | None] = mapped_column(String(40), info={"label": "证书编号"})
    valid_until: Mapped[datetime.date | None] = mapped_column(Date, info={"label": "有效期至"})

    person: Mapped[Person] = relationship(back_populates="qualifications", info={"label": "人员"})

    def __str__(self) -> str:
        return f"{self.person.name if self.person else ''} {QualificationKind.label_of(self.kind)}"

    def valid_on(self, day: datetime.date) -> bool:
        return self.passed_on <= day and (self.valid_until is None or day <= self.valid_until)
