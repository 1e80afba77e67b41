"""Demo data for 娄底市: regions, four pilot merged offices, people, duties, plans and accounts.

``seed_demo(session)`` builds everything in the caller's transaction and returns what it made.
Every person is invented (surname + given-name lists, fixed random seed), so two runs give the
same data. ID numbers are generated with correct check characters; a few carry the pre-1999
娄底地区 area codes (4325xx) that older numbers still start with.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from models import (
    AnnualPlan,
    Appointment,
    Base,
    Duty,
    DutyAdjustment,
    DutyTemplateEntry,
    Grant,
    MilitiaMembership,
    Person,
    PlanItem,
    Post,
    PostType,
    Qualification,
    Region,
    Room,
    ServiceRecord,
    ServiceWindow,
    User,
    VeteranProfile,
)
from models.enums import (
    AdjustmentAction,
    DischargeType,
    DutyCategory,
    EmploymentStatus,
    MilitiaCategory,
    MilitiaRole,
    MilitiaUnitType,
    PlanStatus,
    PoliticalStatus,
    PostSide,
    QualificationKind,
    Role,
    RoomKind,
    Service,
    ServiceKind,
    ServiceStatus,
)
from models.plans import seed_plan_template

DEMO_PASSWORD = "yibuyizhan-demo"  # noqa: S105 - the documented demo password
SEED = 20230501  # the month the merged offices started

CITY = ("431300000000", "娄底市")
COUNTIES = [
    ("431302000000", "娄星区"),
    ("431321000000", "双峰县"),
    ("431322000000", "新化县"),
    ("431381000000", "冷水江市"),
    ("431382000000", "涟源市"),
]
# Pilot townships with their real codes, each with a few (invented) villages/communities.
PILOTS = [
    ("431302100000", "杉山镇", "431302000000", [("431302100201", "杉山村"), ("431302100202", "楠木村")]),
    ("431302005000", "大科街道", "431302000000", [("431302005001", "大科社区"), ("431302005002", "月塘社区")]),
    ("431322116000", "田坪镇", "431322000000", [("431322116201", "田坪村"), ("431322116202", "枫林村")]),
    ("431321110000", "青树坪镇", "431321000000", [("431321110201", "青树坪村"), ("431321110202", "新屋村")]),
]
# County → the pre-1999 area code of the same place (娄底地区 4325xx), for older ID numbers.
OLD_AREA_CODES = {"431302": "432501", "431321": "432522", "431322": "432524"}

ACCOUNTS = [
    ("city", "市级管理员", Role.CITY_ADMIN, "431300000000"),
    ("louxing", "娄星区管理员", Role.COUNTY_ADMIN, "431302000000"),
    ("shanshan", "杉山镇工作人员", Role.CLERK, "431302100000"),
    ("dake", "大科街道工作人员", Role.CLERK, "431302005000"),
    ("tianping", "田坪镇工作人员", Role.CLERK, "431322116000"),
    ("viewer", "查看人员", Role.VIEWER, "431300000000"),
]

SURNAMES = "刘李王张陈曾彭谢罗周邓肖颜贺梁吴曹龚袁朱聂伍邹段胡康石蒋廖"
MALE_GIVEN = ["建国", "志强", "军", "伟", "勇", "海波", "卫东", "国庆", "小龙", "俊杰", "浩", "宇", "鹏",
              "立新", "红军", "永福", "德胜", "文斌", "世平", "晓东", "湘南", "楚雄", "金山", "明亮",
              "振华", "子豪", "一鸣", "家乐", "正阳", "庆林"]
FEMALE_GIVEN = ["丽", "芳", "敏", "静", "秀英", "海燕", "红梅", "晓玲", "湘君", "丹", "雅琴", "玉兰",
                "思雨", "佳怡", "春花"]
SPECIALTIES = ["汽车驾驶", "通信", "卫生救护", "无人机操控", "工程机械", "炊事", "电工", "侦察", "防化",
               "计算机网络"]
RANKS = ["列兵", "上等兵", "下士", "中士", "上士", "四级军士长", "中尉", "上尉"]

# Core duties from the city plan; ``non_core`` ones are side jobs the merger is meant to cut.
DUTIES = [
    ("民兵整组", DutyCategory.ARMED_FORCES, "每年春季组织民兵整组,落实编组和点验"),
    ("民兵训练", DutyCategory.ARMED_FORCES, "组织基干民兵和应急分队训练、防汛演练"),
    ("兵员征集", DutyCategory.ARMED_FORCES, "兵役登记、体检政审、新兵欢送"),
    ("国防教育", DutyCategory.ARMED_FORCES, "国防教育进机关、进学校、进村(社区)"),
    ("战备值班", DutyCategory.ARMED_FORCES, "落实战备值班和应急值守"),
    ("退役军人信息采集", DutyCategory.VETERANS, "退役军人和其他优抚对象信息采集、核查"),
    ("返乡报到接收", DutyCategory.VETERANS, "退役士兵返乡报到登记、档案接收"),
    ("优抚对象抚恤补助", DutyCategory.VETERANS, "抚恤补助申报、发放核对"),
    ("就业创业扶持", DutyCategory.VETERANS, "就业推荐、创业政策咨询和帮办"),
    ("权益维护与来信来访", DutyCategory.VETERANS, "受理来信来访,维护退役军人合法权益"),
    ("走访慰问", DutyCategory.VETERANS, "春节、八一等节日走访慰问"),
    ("光荣牌悬挂", DutyCategory.VETERANS, "光荣牌悬挂和核查"),
    ("档案管理", DutyCategory.VETERANS, "部站业务档案和人员档案管理"),
    ("安全生产", DutyCategory.NON_CORE, "乡镇安全生产检查(兼职)"),
    ("乡村振兴", DutyCategory.NON_CORE, "乡村振兴联点工作(兼职)"),
    ("综治维稳", DutyCategory.NON_CORE, "综治维稳值守(兼职)"),
    ("村级退役军人信息报送", DutyCategory.VETERANS, "村(社区)退役军人信息收集报送"),
    ("村民兵连日常管理", DutyCategory.ARMED_FORCES, "村民兵连(排)日常管理和训练组织"),
]

# Posts of a merged township office: (title, side, parent title, qualification required, with speciality)
TOWNSHIP_POSTS = [
    ("武装部部长", PostSide.ARMED_FORCES, None, None),
    ("服务站站长", PostSide.STATION, "武装部部长", None),
    ("武装部副部长", PostSide.ARMED_FORCES, "武装部部长", QualificationKind.PAF_CADRE),
    ("专职人民武装干部", PostSide.ARMED_FORCES, "武装部副部长", None),
    ("干事(民兵整组)", PostSide.ARMED_FORCES, "专职人民武装干部", None),
    ("干事(优抚安置)", PostSide.STATION, "服务站站长", None),
    ("干事(就业创业)", PostSide.STATION, "服务站站长", None),
    ("干事(综合档案)", PostSide.STATION, "服务站站长", None),
]
VILLAGE_POSTS = [
    ("村服务站站长", PostSide.VILLAGE_STATION, "服务站站长"),
    ("民兵连长", PostSide.MILITIA, "专职人民武装干部"),
]

# City duty template: post title → duties, in order (wording None = the duty's name).
TEMPLATE = [
    ("武装部部长", "国防教育", "统筹国防教育,作为党委委员分管退役军人服务站"),
    ("武装部部长", "安全生产", None),
    ("武装部副部长", "民兵整组", None),
    ("武装部副部长", "战备值班", None),
    ("专职人民武装干部", "兵员征集", None),
    ("干事(民兵整组)", "民兵训练", None),
    ("服务站站长", "权益维护与来信来访", None),
    ("服务站站长", "退役军人信息采集", None),
    ("服务站站长", "乡村振兴", None),
    ("干事(优抚安置)", "优抚对象抚恤补助", None),
    ("干事(优抚安置)", "走访慰问", None),
    ("干事(优抚安置)", "光荣牌悬挂", None),
    ("干事(就业创业)", "就业创业扶持", None),
    ("干事(就业创业)", "返乡报到接收", None),
    ("干事(综合档案)", "档案管理", None),
    ("干事(综合档案)", "综治维稳", None),
    ("村服务站站长", "村级退役军人信息报送", None),
    ("民兵连长", "村民兵连日常管理", None),
]

# The working year: month → (item, lead post title).
PLAN_ITEMS = [
    (1, "春节走访慰问优抚对象和困难退役军人", "干事(优抚安置)"),
    (2, "上半年征兵宣传发动和体检政审", "专职人民武装干部"),
    (3, "民兵整组:编组、点验", "武装部副部长"),
    (3, "退役士兵返乡报到接收(3月批次)", "干事(就业创业)"),
    (4, "基干民兵集中训练", "干事(民兵整组)"),
    (5, "国防教育进校园", "武装部部长"),
    (6, "兵役登记(6月30日截止)", "专职人民武装干部"),
    (6, "防汛应急分队拉动演练", "武装部副部长"),
    (7, "退役军人就业创业培训和招聘对接", "干事(就业创业)"),
    (8, "八一建军节走访慰问和座谈", "服务站站长"),
    (8, "下半年征兵体检政审", "专职人民武装干部"),
    (9, "新兵欢送和退役士兵返乡报到接收(9月批次)", "干事(就业创业)"),
    (10, "光荣牌悬挂核查和信息采集更新", "干事(优抚安置)"),
    (11, "民兵训练考核和冬季战备值班部署", "武装部副部长"),
    (12, "年终总结评比表彰和档案归档", "干事(综合档案)"),
]

ROOMS = [
    (RoomKind.OFFICE, "部站办公室", 30),
    (RoomKind.ACTIVITY, "退役军人活动室", 60),
    (RoomKind.ARCHIVE, "资料室", 20),
    (RoomKind.DUTY, "值班室", 15),
    (RoomKind.HONOUR, "荣誉室", 40),
]
WINDOWS = [
    ("返乡报到窗口", "退役返乡报到、信息采集、档案接收"),
    ("优抚帮扶窗口", "抚恤补助、走访慰问、困难帮扶、光荣牌"),
    ("就业创业窗口", "就业推荐、创业政策咨询、帮办注册"),
]


class DatabaseNotEmpty(RuntimeError):
    """The database already holds data; ``tables`` names the non-empty tables."""

    def __init__(self, tables: list[str]):
        self.tables = tables
        super().__init__("database not empty: " + ", ".join(tables))


def _data_tables() -> list:
    """Every table except regions: regions are reference data (see ``regions import``) and are reused."""
    return [t for t in Base.metadata.sorted_tables if t.name != Region.__tablename__]


def non_empty_tables(session: Session) -> list[str]:
    """Data tables holding rows (the audit of a region import alone does not count as data)."""
    return [t.name for t in _data_tables() if t.name != "audit_log"
            and session.execute(select(func.count()).select_from(t)).scalar_one() > 0]


def clear_data(session: Session) -> None:
    """Delete every row except regions (used by ``seed-demo --reset``); the caller commits."""
    for table in reversed(_data_tables()):
        session.execute(delete(table))
    session.flush()


@dataclass
class _Office:
    township: Region
    villages: list[Region]
    posts: dict[str, Post] = field(default_factory=dict)
    village_posts: list[Post] = field(default_factory=list)
    staff: dict[str, Person] = field(default_factory=dict)


class _Builder:
    def __init__(self, session: Session, today: datetime.date):
        self.session = session
        self.today = today
        self.year = today.year
        self.rng = random.Random(SEED)  # noqa: S311 - deterministic invented demo data, not secrets
        self.id_numbers: set[str] = set()
        self.made: dict[str, int] = {}

    def add(self, obj):
        self.session.add(obj)
        key = type(obj).__tablename__
        self.made[key] = self.made.get(key, 0) + 1
        return obj

    # -- regions ---------------------------------------------------------------------------------
    def region(self, code: str, name: str, level: str, parent: Region | None) -> Region:
        region = self.session.scalar(select(Region).where(Region.code == code))
        if region is None:
            region = self.add(Region(code=code, name=name, level=level, parent=parent))
            region.path = region.compute_path()
            self.session.flush()
        return region

    # -- people ----------------------------------------------------------------------------------
    def name(self, male: bool) -> str:
        given = MALE_GIVEN if male else FEMALE_GIVEN
        return self.rng.choice(SURNAMES) + self.rng.choice(given)

    def id_number(self, area: str, birth: datetime.date, male: bool) -> str:
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if male else 0)
            body = f"{area}{birth:%Y%m%d}{seq:03d}"
            number = body + ric.calc_check_digit(body + "0")
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def birth(self, youngest: int, oldest: int) -> datetime.date:
        year = self.year - self.rng.randint(youngest, oldest)
        return datetime.date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))

    def person(self, region: Region, *, male: bool = True, age: tuple[int, int] = (25, 50),
               old_code: bool = False, name: str | None = None) -> Person:
        birth = self.birth(*age)
        area = region.code[:6]
        if old_code:
            area = OLD_AREA_CODES.get(area, "432501")
        number = self.id_number(area, birth, male)
        village = region.name if region.level == "village" else ""
        township = region.township() or region
        county = township.parent
        person = self.add(Person(
            name=name or self.name(male), id_number=number, ethnicity="汉族",
            political_status=self.rng.choice([PoliticalStatus.CPC, PoliticalStatus.CPC, PoliticalStatus.MASSES,
                                              PoliticalStatus.CYL]).value,
            education=self.rng.choice(["junior", "senior", "college", "bachelor"]),
            phone=f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}",
            address=f"湖南省娄底市{county.name if county else ''}{township.name}{village}"
                    f"{self.rng.randint(1, 12)}组",
            region=region))
        errors = person.check()  # derives birth date and gender, as the form does
        if errors:  # pragma: no cover - generated numbers are valid by construction
            raise ValueError(f"demo ID number rejected: {errors}")
        return person

    # -- the merged office -----------------------------------------------------------------------
    def post_types(self) -> dict[str, PostType]:
        """The city's post catalogue: 编制数 and required qualification per post type."""
        rows = [(title, side, qual) for title, side, _parent, qual in TOWNSHIP_POSTS]
        rows += [(title, side, None) for title, side, _parent in VILLAGE_POSTS]
        self.types = {title: self.add(PostType(title=title, side=side.value, headcount=1, sort_order=i * 10,
                                               required_qualification=qual.value if qual else None))
                      for i, (title, side, qual) in enumerate(rows, start=1)}
        return self.types

    def office(self, township: Region, villages: list[Region]) -> _Office:
        office = _Office(township, villages)
        for order, (title, side, parent, _qual) in enumerate(TOWNSHIP_POSTS, start=1):
            office.posts[title] = self.add(Post(
                region=township, title=title, side=side.value, parent=office.posts.get(parent),
                sort_order=order * 10, post_type=self.types[title]))
        for village in villages:
            for order, (title, side, parent) in enumerate(VILLAGE_POSTS, start=1):
                office.village_posts.append(self.add(Post(
                    region=village, title=title, side=side.value, parent=office.posts[parent],
                    sort_order=100 + order * 10, post_type=self.types[title])))
        self.session.flush()
        return office

    def appoint(self, person: Person, post: Post, start: datetime.date, *, concurrent: bool = False):
        appointment = self.add(Appointment(person=person, post=post, start_on=start, concurrent=concurrent))
        self.session.flush()
        errors = appointment.check()
        if errors:  # pragma: no cover - the demo must obey the rules it demonstrates
            raise ValueError(f"demo appointment breaks a rule: {errors}")
        return appointment

    def qualify(self, person: Person, passed_on: datetime.date) -> Qualification:
        return self.add(Qualification(person=person, kind=QualificationKind.PAF_CADRE.value, passed_on=passed_on,
                                      certificate_no=f"LD-RW-{passed_on.year}-{self.rng.randrange(1000):03d}"))

    def staff(self, office: _Office, index: int) -> None:
        """Appoint staff. In the first office the station head holds 副部长 concurrently (qualified);
        every office leaves 干事(综合档案) vacant, so the chart shows a vacancy."""
        posts, t = office.posts, office.township
        start = datetime.date(2023, 5, 15)
        head = self.person(t, age=(38, 52))
        self.appoint(head, posts["武装部部长"], start)
        station = self.person(t, age=(32, 48), male=index % 2 == 0)
        self.appoint(station, posts["服务站站长"], start)
        office.staff.update({"武装部部长": head, "服务站站长": station})
        if index in (0, 2):
            # Rule 2: a qualified station head holds 副部长 concurrently (兼任).
            self.qualify(station, datetime.date(2023, 9, 20))
            self.session.flush()
            self.appoint(station, posts["武装部副部长"], datetime.date(2023, 10, 8), concurrent=True)
            office.staff["武装部副部长"] = station
        else:
            deputy = self.person(t, age=(30, 45))
            self.qualify(deputy, datetime.date(2022, 11, 5))
            self.session.flush()
            self.appoint(deputy, posts["武装部副部长"], start)
            office.staff["武装部副部长"] = deputy
        for title in ("专职人民武装干部", "干事(民兵整组)", "干事(优抚安置)", "干事(就业创业)"):
            who = self.person(t, age=(24, 40), male=title != "干事(优抚安置)")
            self.appoint(who, posts[title], start)
            office.staff[title] = who
        for post in office.village_posts:
            who = self.person(post.region, age=(30, 55))
            self.appoint(who, post, datetime.date(2021, 6, 1))

    def rooms_and_windows(self, office: _Office) -> None:
        for kind, name, area in ROOMS:
            self.add(Room(region=office.township, kind=kind.value, name=name, area=area, shared=True))
        for name, services in WINDOWS:
            self.add(ServiceWindow(region=office.township, name=name, services=services))

    # -- veterans, militia, services -------------------------------------------------------------
    def recent_returns(self) -> list[datetime.date]:
        """The last two discharge seasons (early March, early September) on or before today."""
        seasons = []
        for year in (self.year, self.year - 1):
            for month in (9, 3):
                day = datetime.date(year, month, 5)
                if day <= self.today:
                    seasons.append(day)
        return seasons[:2]

    def veterans(self, office: _Office, count: int) -> list[Person]:
        made = []
        handler = office.staff["干事(就业创业)"].name
        seasons = self.recent_returns()
        places = [office.township, *office.villages]
        for i in range(count):
            region = places[i % len(places)]
            recent = i < 3
            if recent:
                age, old = (22, 26), False
            elif i in (3, 4):
                age, old = (55, 66), True  # born before 1999: an old 娄底地区 4325xx number
            else:
                age, old = (27, 50), False
            person = self.person(region, age=age, old_code=old)
            birth = person.birth_date
            enlisted = datetime.date(birth.year + self.rng.randint(18, 20), 9, 1)
            if recent:
                back = seasons[i % len(seasons)]
                discharged = back - datetime.timedelta(days=4)
                enlisted = min(enlisted, datetime.date(discharged.year - 2, discharged.month, 1))
            else:
                years = min(self.rng.choice([2, 2, 5, 8, 12]), self.year - enlisted.year - 1)
                discharged = datetime.date(enlisted.year + years, self.rng.choice([3, 9]), 1)
                back = discharged + datetime.timedelta(days=self.rng.randint(3, 25))
            long_service = discharged.year - enlisted.year >= 8
            self.add(VeteranProfile(
                person=person, service=self.rng.choice(list(Service)).value, enlisted_on=enlisted,
                discharged_on=discharged,
                discharge_type=(self.rng.choice([DischargeType.MONTHLY_PENSION, DischargeType.TRANSFERRED])
                                if long_service else DischargeType.SELF_EMPLOYED).value,
                rank_at_discharge=self.rng.choice(RANKS[3:] if long_service else RANKS[:4]),
                specialty=self.rng.choice(SPECIALTIES),
                military_quality=self.rng.choice(["优秀", "良好", "良好", "合格"]),
                reported_home_on=back,
                employment_status=(EmploymentStatus.UNEMPLOYED if recent else
                                   self.rng.choice(list(EmploymentStatus))).value,
                hardship="家庭成员重病,需临时救助" if i == 5 else None,
                honor_plaque=self.rng.random() < 0.85))
            self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.REPORT_HOME.value,
                                   served_on=back, handler=handler, status=ServiceStatus.DONE.value,
                                   notes="返乡报到登记,信息采集,档案接收"))
            if i == 0:
                # The returning veteran's story: report home, ask about start-up policy, get help registering.
                self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.POLICY.value,
                                       served_on=back + datetime.timedelta(days=2), handler=handler,
                                       status=ServiceStatus.DONE.value, notes="咨询自主创业扶持政策"))
                self.add(ServiceRecord(person=person, township=office.township,
                                       kind=ServiceKind.STARTUP.value,
                                       served_on=min(back + datetime.timedelta(days=20), self.today),
                                       handler=handler, status=ServiceStatus.OPEN.value,
                                       notes="帮办个体工商户注册登记"))
            if i == 5:
                self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.ASSISTANCE.value,
                                       served_on=min(datetime.date(self.year, 4, 10), self.today),
                                       handler=office.staff["干事(优抚安置)"].name,
                                       status=ServiceStatus.REFERRED.value, notes="申请临时救助,已转民政办"))
            if i in (3, 4):
                self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.VISIT.value,
                                       served_on=min(datetime.date(self.year, 1, 20), self.today),
                                       handler=office.staff["干事(优抚安置)"].name,
                                       status=ServiceStatus.DONE.value, notes="春节走访慰问"))
            made.append(person)
        return made

    def militia(self, office: _Office, veterans: list[Person], count: int) -> None:
        """Core militia are mostly discharged soldiers; the best of them form the emergency detachment."""
        t = office.township
        young = [v for v in veterans if self.year - v.birth_date.year <= 35]
        members = young[:count - 2]
        while len(members) < count:
            members.append(self.person(self.rng.choice([t, *office.villages]), age=(19, 30)))
        for i, person in enumerate(members):
            is_veteran = person in veterans
            emergency = is_veteran and i < 3
            self.add(MilitiaMembership(
                person=person, township=t, year=self.year,
                category=(MilitiaCategory.CORE if is_veteran or i % 2 == 0 else MilitiaCategory.ORDINARY).value,
                unit_type=(MilitiaUnitType.EMERGENCY if emergency else MilitiaUnitType.SQUAD).value,
                unit_name=f"{t.name}民兵应急分队" if emergency else f"{t.name}基干民兵连{i % 2 + 1}班",
                role=(MilitiaRole.SQUAD_LEADER if i in (0, 3) else MilitiaRole.MEMBER).value))

    # -- duties and plans ------------------------------------------------------------------------
    def duties(self) -> dict[str, Duty]:
        duties = {name: self.add(Duty(name=name, category=cat.value, description=desc))
                  for name, cat, desc in DUTIES}
        for order, (post_title, duty_name, wording) in enumerate(TEMPLATE, start=1):
            self.add(DutyTemplateEntry(post_title=post_title, duty=duties[duty_name], wording=wording,
                                       sort_order=order * 10))
        self.session.flush()
        return duties

    def adjustments(self, offices: dict[str, _Office], duties: dict[str, Duty],
                    authors: dict[str, User]) -> None:
        made_at = datetime.datetime(2023, 6, 1, 9, 0)
        shanshan, dake = offices["431302100000"], offices["431302005000"]
        tianping, qingshuping = offices["431322116000"], offices["431321110000"]
        mining = self.add(Duty(name="矿区退役军人就业对接", category=DutyCategory.VETERANS.value,
                               region=shanshan.township, description="对接辖区矿企招聘退役军人"))
        detachment = self.add(Duty(name="应急分队骨干遴选", category=DutyCategory.ARMED_FORCES.value,
                                   region=qingshuping.township,
                                   description="利用退役军人信息,挑选专业特长和军事素养好的人员编入应急分队"))
        rows = [
            (shanshan, AdjustmentAction.REMOVE, duties["安全生产"], None, None,
             "按实施方案削减部长兼职,聚焦主责主业", "shanshan"),
            (shanshan, AdjustmentAction.ADD, mining, "干事(就业创业)", None,
             "辖区矿企多,退役军人就业需求集中", "shanshan"),
            (dake, AdjustmentAction.MOVE, duties["档案管理"], "服务站站长", None,
             "街道综合档案干事空缺,暂由站长兼管", "dake"),
            (dake, AdjustmentAction.REMOVE, duties["综治维稳"], None, None,
             "综治维稳由街道综治中心承担", "dake"),
            (tianping, AdjustmentAction.REWORD, duties["兵员征集"], None,
             "兵员征集:兵役登记、大学生征集宣传、体检政审、新兵欢送", "山区镇大学生兵源为重点", "tianping"),
            (qingshuping, AdjustmentAction.ADD, detachment, "武装部副部长", None,
             "民兵整组时从退役军人中遴选应急分队骨干", "city"),
        ]
        for i, (office, action, duty, target, wording, reason, author) in enumerate(rows):
            self.add(DutyAdjustment(
                township=office.township, action=action.value, duty=duty,
                target_post=office.posts[target] if target else None, new_wording=wording, reason=reason,
                author=authors[author], made_at=made_at + datetime.timedelta(days=i)))

    def plan(self, office: _Office) -> None:
        t, month_now = office.township, self.today.month
        plan = self.add(AnnualPlan(township=t, year=self.year, title=f"{self.year}年度部站大项工作计划"))
        overdue_left = True
        for month, title, lead in PLAN_ITEMS:
            if month < month_now:
                # One past item per plan is still open: the chart shows it as overdue.
                if overdue_left and month >= month_now - 3:
                    status, done_on = PlanStatus.IN_PROGRESS, None
                    overdue_left = False
                else:
                    status, done_on = PlanStatus.DONE, datetime.date(self.year, month, 25)
            elif month == month_now:
                status, done_on = PlanStatus.IN_PROGRESS, None
            else:
                status, done_on = PlanStatus.PLANNED, None
            self.add(PlanItem(plan=plan, month=month, title=title, lead_post=office.posts[lead],
                              status=status.value, completed_on=done_on,
                              note="按期完成" if status is PlanStatus.DONE else None))

    def accounts(self, regions: dict[str, Region]) -> tuple[dict[str, User], list[dict]]:
        users, listing = {}, []
        for username, display, role, code in ACCOUNTS:
            user = self.add(User(username=username, display_name=display))
            user.set_password(DEMO_PASSWORD)
            self.add(Grant(user=user, role=role.value, region=regions[code]))
            users[username] = user
            listing.append({"username": username, "role": role.value, "role_label": role.label,
                            "region": regions[code].name})
        self.session.flush()
        return users, listing


def seed_demo(session: Session, today: datetime.date | None = None) -> dict:
    """Fill an empty database with the 娄底 demo; raises ``DatabaseNotEmpty`` if it holds data.

    Regions already present (e.g. from ``regions import``) are reused by code. Nothing is committed:
    the caller commits. Returns ``{"counts": {table: rows made}, "accounts": [...], "townships": {...}}``.
    """
    tables = non_empty_tables(session)
    if tables:
        raise DatabaseNotEmpty(tables)
    b = _Builder(session, today or datetime.date.today())
    city = b.region(*CITY, "city", None)
    regions = {city.code: city}
    for code, name in COUNTIES:
        regions[code] = b.region(code, name, "county", city)
    offices: dict[str, _Office] = {}
    for code, name, county, villages in PILOTS:
        township = b.region(code, name, "township", regions[county])
        regions[code] = township
        offices[code] = _Office(township, [b.region(vc, vn, "village", township) for vc, vn in villages])

    users, listing = b.accounts(regions)
    b.post_types()
    duties = b.duties()
    for index, office in enumerate(offices.values()):
        built = b.office(office.township, office.villages)
        office.posts, office.village_posts = built.posts, built.village_posts
        b.staff(office, index)
        b.rooms_and_windows(office)
        veterans = b.veterans(office, 9)
        b.militia(office, veterans, 6)
        b.plan(office)
    b.adjustments(offices, duties, users)
    b.made["plan_template_item"] = seed_plan_template(session)
    session.flush()
    return {
        "counts": dict(sorted(b.made.items())),
        "accounts": listing,
        "townships": {code: o.township.name for code, o in offices.items()},
    }
