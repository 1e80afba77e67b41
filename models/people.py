"""People (人员): one row per human, who may be staff, veteran and militia member at once."""

from __future__ import annotations

import datetime
import functools
import json
from typing import TYPE_CHECKING

from sqlalchemy import DDL, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .base import Base, TimestampMixin, enum_check, enum_column
from .enums import (
    DischargeType,
    Education,
    EmploymentStatus,
    Gender,
    MilitaryRating,
    MilitiaCategory,
    MilitiaMemberStatus,
    MilitiaRole,
    MilitiaUnitType,
    PoliticalStatus,
    QualificationKind,
    Service,
)
from .idnumber import IdNumberError, parse_id_number
from .region import Region

if TYPE_CHECKING:
    from .militia import MilitiaUnit


#: How a surname is read where its everyday reading differs (曾 is "ceng" in 曾经, "zeng" as a surname).
#: pypinyin 0.55 has no surname mode, so the common ones are listed here; compound surnames first.
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "尉迟": ("yu", "chi"), "万俟": ("mo", "qi"), "长孙": ("zhang", "sun"), "单于": ("chan", "yu"),
    "澹台": ("tan", "tai"), "令狐": ("ling", "hu"), "皇甫": ("huang", "fu"), "东方": ("dong", "fang"),
    "曾": ("zeng",), "单": ("shan",), "解": ("xie",), "仇": ("qiu",), "区": ("ou",), "查": ("zha",),
    "覃": ("qin",), "盖": ("ge",), "朴": ("piao",), "乐": ("yue",), "缪": ("miao",), "翟": ("zhai",),
    "瞿": ("qu",), "召": ("shao",), "种": ("chong",), "员": ("yun",), "繁": ("po",), "秘": ("bi",),
    "冼": ("xian",), "黑": ("he",), "尉": ("yu",), "祭": ("zhai",), "句": ("gou",), "谌": ("chen",),
    "莘": ("shen",), "厍": ("she",), "折": ("she",), "薄": ("bo",), "柏": ("bai",), "过": ("guo",),
    "华": ("hua",), "纪": ("ji",), "任": ("ren",), "沈": ("shen",), "宁": ("ning",), "燕": ("yan",),
    "阚": ("kan",), "眭": ("sui",), "长": ("chang",), "重": ("chong",), "都": ("du",), "藏": ("zang",),
    "能": ("nai",), "隗": ("wei",), "蕃": ("pi",), "哈": ("ha",),
}
SURNAMES_LONGEST_FIRST = sorted(SURNAME_READINGS, key=len, reverse=True)
#: Readings of a character considered: pypinyin lists archaic ones last (胜 sheng, xing, qing), and the
#: first two cover the heteronyms of names (乐 le/yue, 长 zhang/chang, 重 zhong/chong, 行 xing/hang).
MAX_CHAR_READINGS = 2
MAX_READINGS = 8  # alternatives kept per person (bounded: the stored columns are 160 and 40 characters)
PINYIN_MAX = 160
INITIALS_MAX = 40


def _syllables(text: str) -> list[str]:
    """The usual reading of ``text`` in context (pypinyin's phrase data), one syllable per Han character."""
    from pypinyin import Style, lazy_pinyin  # its phrase data takes ~0.3 s to load: only when a name is set

    return [s.lower() for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s]


@functools.lru_cache(maxsize=4096)
def _char_readings(char: str) -> tuple[str, ...]:
    """Every reading of one character (its heteronyms), the usual one first; () for a non-Han one."""
    from pypinyin import Style, pinyin

    found = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(dict.fromkeys(s.lower() for s in found[0] if s)) if found else ()


def name_readings(name: str) -> list[list[str]]:
    """The readings of a name a clerk might type, each a list of syllables, the usual one first.

    The first reads the surname as a surname (曾 zeng, 单 shan, 仇 qiu …) and the given name in context;
    then the other common reading (``MAX_CHAR_READINGS``) of every character, surname first (乐 le/yue,
    长 chang/zhang), one character at a time (the same character reads the same throughout).
    At most ``MAX_READINGS``: a name of 40 characters full of heteronyms stays bounded.
    """
    name = (name or "").strip()
    han = [c for c in name if _char_readings(c)]
    if not han:
        return [[]]
    text = "".join(han)
    surname = next((s for s in SURNAMES_LONGEST_FIRST if text.startswith(s)), text[:1])
    usual = list(SURNAME_READINGS.get(surname) or _syllables(surname)) + _syllables(text[len(surname):])
    if len(usual) != len(han):  # never expected; fall back to one reading per character
        usual = [_char_readings(c)[0] for c in han]
    readings = [usual]
    for char in dict.fromkeys(han):
        for reading in _char_readings(char)[:MAX_CHAR_READINGS]:
            alternative = [reading if c == char else s for c, s in zip(han, usual, strict=True)]
            if alternative not in readings:
                readings.append(alternative)
                if len(readings) >= MAX_READINGS:
                    return readings
    return readings


@functools.lru_cache(maxsize=65536)
def name_pinyin(name: str) -> tuple[str, str]:
    """Every reading of a name, full and as initials, space-separated, the usual one first:
    周洪杰 → ("zhouhongjie", "zhj"); 曾海燕 → ("zenghaiyan cenghaiyan", "zhy chy").

    Stored in ``name_pinyin`` / ``name_initials``, where a substring search finds any reading; the
    space keeps a search from matching across two readings. Bounded by the column sizes.
    """
    full: list[str] = []
    initials: list[str] = []
    readings = name_readings(name)
    for syllables in readings:
        text = "".join(syllables)
        short = "".join(s[0] for s in syllables)
        if text and text not in full and len(" ".join([*full, text])) <= PINYIN_MAX:
            full.append(text)
        if short and short not in initials and len(" ".join([*initials, short])) <= INITIALS_MAX:
            initials.append(short)
    if not full and readings[0]:  # one reading longer than the column: its beginning still sorts and matches
        full.append("".join(readings[0])[:PINYIN_MAX])
    return " ".join(full), " ".join(initials)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
GRAM_MAX = 2  # a search term of at most this many characters is looked up in search_grams


def search_grams(name: str) -> list[str]:
    """Every one- and two-character piece of a name (ASCII letters lower-cased), sorted, no repeats:
    张建国 → [国, 建, 建国, 张, 张建]. A term of one or two characters occurs in the name exactly when it is
    one of these: PostgreSQL finds such terms in a GIN index over them (trigram indexes need three)."""
    text = (name or "").translate(_ASCII_LOWER)
    return sorted({text[i:i + n] for n in range(1, GRAM_MAX + 1) for i in range(len(text) - n + 1)})


class SearchGrams(TypeDecorator):
    """``search_grams``: ``text[]`` on PostgreSQL (GIN-indexed, searched with ``@>``); elsewhere the same
    pieces as a JSON list in a text column (SQLite searches the name itself)."""

    impl = Text
    cache_ok = True

    @property
    def python_type(self):
        return list

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Text))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        return json.dumps(list(value), ensure_ascii=False)

    def process_result_value(self, value, dialect):
        if value is None:
            return []
        return json.loads(value) if isinstance(value, str) else list(value)


class Person(TimestampMixin, Base):
    __tablename__ = "person"
    __table_args__ = (
        enum_check("gender", Gender, nullable=True),
        enum_check("political_status", PoliticalStatus, nullable=True),
        enum_check("education", Education, nullable=True),
        # Substring search at province scale: trigram GIN indexes on PostgreSQL (pg_trgm, revision 0005);
        # plain indexes on SQLite, where the pinyin ones always were and the name one serves exact lookups.
        Index("ix_person_name", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_person_name_pinyin", "name_pinyin", postgresql_using="gin",
              postgresql_ops={"name_pinyin": "gin_trgm_ops"}),
        Index("ix_person_name_initials", "name_initials", postgresql_using="gin",
              postgresql_ops={"name_initials": "gin_trgm_ops"}),
        Index("ix_person_search_grams", "search_grams", postgresql_using="gin"),
        # Fragments of ID numbers and phone numbers are searched too (by users who may see them).
        Index("ix_person_id_number", "id_number", postgresql_using="gin",
              postgresql_ops={"id_number": "gin_trgm_ops"}),
        Index("ix_person_phone", "phone", postgresql_using="gin", postgresql_ops={"phone": "gin_trgm_ops"}),
        Index("ix_person_region_id", "region_id", "id"),
    )
    __scope__ = "region_id"
    __sensitive__ = ("id_number", "birth_date", "phone", "address")  # policy: admin_app/privacy.py
    __admin__ = {
        "name": "人员", "category": "人员", "order": 10,
        "list": ["name", "gender", "id_number", "birth_date", "phone", "political_status", "region"],
        "search": ["name", "name_pinyin", "name_initials"],
        # Fragments of these find people only for users with 查看敏感信息 (admin_app.privacy.searchable).
        "search_sensitive": ["id_number", "phone"],
        "filters": ["region", "gender", "political_status", "education"],
        "form": ["name", "id_number", "gender", "birth_date", "ethnicity", "political_status",
                 "education", "phone", "region", "address", "notes"],
        "inline": ["veteran_profile"],
        # The name links to the person's file (一人一档), with the ID tail beside it to tell namesakes apart.
        "formatters": {"name": "views.people_file:format_person_name"},
        "sort": "-id",
    }
    # Deleting a person that other rows still reference is refused with the list: nothing is lost silently.
    __delete_protect__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False, info={"label": "姓名"})
    name_pinyin: Mapped[str] = mapped_column(String(160), nullable=False, default="",
                                             info={"label": "姓名拼音"})
    name_initials: Mapped[str] = mapped_column(String(40), nullable=False, default="",
                                               info={"label": "拼音首字母"})
    search_grams: Mapped[list[str]] = mapped_column(SearchGrams(), nullable=False, default=list,
                                                    info={"label": "检索片段"})
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
    # Indexed with the id (ix_person_region_id): a scoped list in id order, and its deep pages, read the
    # index only.
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False,
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


# The trigram operator classes of the indexes above come from pg_trgm: a database made by create_all
# (tests, benchmarks) needs it first, as revision 0005 creates it for a migrated one.
event.listen(Person.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


@event.listens_for(Person.name, "set", retval=False)
def _person_name_set(target: Person, value: str, oldvalue, initiator) -> None:
    target.name_pinyin, target.name_initials = name_pinyin(value)
    target.search_grams = search_grams(value)


class VeteranProfile(TimestampMixin, Base):
    __tablename__ = "veteran_profile"
    __table_args__ = (
        enum_check("service", Service, nullable=True),
        enum_check("discharge_type", DischargeType, nullable=True),
        enum_check("employment_status", EmploymentStatus, nullable=True),
        enum_check("military_rating", MilitaryRating, nullable=True),
    )
    __scope__ = "person.region_id"
    __admin__ = {
        "name": "退役军人", "category": "退役军人服务", "order": 20,
        "list": ["person", "service", "enlisted_on", "discharged_on", "discharge_type", "specialty",
                 "reported_home_on", "employment_status", "honor_plaque"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials", "specialty"],
        "filters": ["service", "discharge_type", "employment_status", "honor_plaque", "reported_home_on"],
        "form": ["person", "service", "enlisted_on", "discharged_on", "discharge_type", "rank_at_discharge",
                 "specialty", "military_rating", "military_quality", "reported_home_on", "employment_status", "hardship",
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
    military_quality: Mapped[str | None] = mapped_column(String(200), info={"label": "军事素养评语"})
    military_rating: Mapped[str | None] = enum_column(MilitaryRating, "军事素养", nullable=True)
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
    """A person on a township's militia roster for one reorganisation year (整组年度).

    ``check()`` holds the rules every way of making one obeys (form, import, roll-over, candidates):
    ``models.militia.membership_problems``."""

    __tablename__ = "militia_membership"
    __table_args__ = (
        UniqueConstraint("person_id", "year", name="uq_militia_membership_person_year"),
        enum_check("category", MilitiaCategory),
        enum_check("unit_type", MilitiaUnitType),
        enum_check("role", MilitiaRole),
        enum_check("status", MilitiaMemberStatus),
    )
    __scope__ = "township_id"
    __admin__ = {
        "name": "民兵", "category": "民兵", "order": 30,
        "list": ["person", "township", "year", "category", "unit", "unit_type", "role", "status", "fit"],
        "search": ["person.name", "person.name_pinyin", "person.name_initials"],
        "filters": ["township", "year", "category", "unit_type", "role", "status"],
        "form": ["person", "township", "year", "category", "unit", "unit_type", "role", "status", "fit",
                 "review_note"],
        "ajax": ["person"],
        "sort": "-id",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                                           index=True, info={"label": "人员"})
    township_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True,
                                             info={"label": "乡镇/街道"})
    year: Mapped[int] = mapped_column(Integer, nullable=False, info={"label": "整组年度", "min": 2000, "max": 2100})
    category: Mapped[str] = enum_column(MilitiaCategory, "民兵类别")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("militia_unit.id"), index=True,
                                                info={"label": "所在单位"})
    unit_type: Mapped[str] = enum_column(MilitiaUnitType, "编组",
                                         description="选了所在单位时按单位的编组类别自动填写")
    role: Mapped[str] = enum_column(MilitiaRole, "职务", default=MilitiaRole.MEMBER)
    status: Mapped[str] = enum_column(MilitiaMemberStatus, "整组状态", default=MilitiaMemberStatus.CONFIRMED)
    fit: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="1",
                                      info={"label": "身体条件合格"})
    review_note: Mapped[str | None] = mapped_column(String(200), info={"label": "整组提示"})

    person: Mapped[Person] = relationship(back_populates="militia_memberships", info={"label": "人员"})
    township: Mapped[Region] = relationship(info={"label": "乡镇/街道"})
    unit: Mapped[MilitiaUnit | None] = relationship(back_populates="memberships", info={"label": "所在单位"})

    def __str__(self) -> str:
        return f"{self.person.name if self.person else ''} {self.year}"

    def check(self) -> dict[str, str]:
        from .militia import membership_problems

        return membership_problems(self)


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
