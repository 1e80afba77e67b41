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
    MilitiaUnit,
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
    MilitaryRating,
    MilitiaCategory,
    MilitiaMemberStatus,
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
    VillageRole,
)
from models.militia import age_in_year
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
RATING_OF = {"优秀": MilitaryRating.EXCELLENT.value, "良好": MilitaryRating.GOOD.value,
             "合格": MilitaryRating.PASS.value}
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
        self.offices: list[_Office] = []

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
               old_code: bool = False, name: str | None = None, birth: datetime.date | None = None) -> Person:
        birth = birth or self.birth(*age)
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
    def windows(self, office: _Office) -> dict[str, ServiceWindow]:
        """The township's service windows by name (service records are taken at one)."""
        self.session.flush()
        return {w.name: w for w in self.session.scalars(
            select(ServiceWindow).where(ServiceWindow.region_id == office.township.id))}

    def expected_returns(self, office: _Office) -> None:
        """Two soldiers discharged in the latest peak who have not reported home yet (the dashboard's
        reported vs expected), one of whom asked about policy by phone: open, past its due date."""
        season = self.recent_returns()[0]
        for _n in range(2):
            person = self.person(office.township, age=(21, 24))
            self.add(VeteranProfile(person=person, service=Service.ARMY.value,
                                    enlisted_on=datetime.date(season.year - 2, season.month, 1),
                                    discharged_on=season - datetime.timedelta(days=4),
                                    discharge_type=DischargeType.SELF_EMPLOYED.value, specialty="驾驶"))
        windows = self.windows(office)
        asked = max(season, self.today - datetime.timedelta(days=30))
        self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.POLICY.value,
                               served_on=asked, due_on=asked + datetime.timedelta(days=10),
                               handler=office.staff["干事(就业创业)"], window=windows["就业创业窗口"],
                               status=ServiceStatus.OPEN.value, notes="电话咨询退役安置政策,约定来站面谈"))

    def pending_transfer(self, source: _Office, target: _Office, requester: User) -> None:
        """户籍迁入: ``target``'s clerk asked for a veteran registered in ``source``; not handed over yet."""
        from models import Transfer

        self.session.flush()
        person = self.session.scalars(
            select(Person).join(VeteranProfile, VeteranProfile.person_id == Person.id)
            .join(Region, Person.region_id == Region.id)
            .where(Region.path.like(source.township.path + "%"), VeteranProfile.reported_home_on.is_not(None))
            .order_by(Person.id.desc())).first()
        if person is not None:
            self.add(Transfer(person=person, from_township=source.township, to_township=target.township,
                              requested_by_id=requester.id, note="本人户籍已迁入,申请接收档案"))

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
        handler = office.staff["干事(就业创业)"]  # service records: a staff person at a window (0007)
        windows = self.windows(office)
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
                military_quality=(quality := self.rng.choice(["优秀", "良好", "良好", "合格"])),
                military_rating=RATING_OF[quality],
                reported_home_on=back,
                employment_status=(EmploymentStatus.UNEMPLOYED if recent else
                                   self.rng.choice(list(EmploymentStatus))).value,
                hardship="家庭成员重病,需临时救助" if i == 5 else None,
                honor_plaque=self.rng.random() < 0.85))
            self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.REPORT_HOME.value,
                                   served_on=back, handler=handler, status=ServiceStatus.DONE.value,
                                   window=windows["返乡报到窗口"], notes="返乡报到登记,信息采集,档案接收"))
            if i == 0:
                # The returning veteran's story: report home, ask about start-up policy, get help registering.
                policy = self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.POLICY.value,
                                       served_on=back + datetime.timedelta(days=2), handler=handler,
                                       window=windows["就业创业窗口"],
                                       status=ServiceStatus.DONE.value, notes="咨询自主创业扶持政策"))
                self.add(ServiceRecord(person=person, township=office.township,
                                       kind=ServiceKind.STARTUP.value,
                                       served_on=min(back + datetime.timedelta(days=20), self.today),
                                       handler=handler, status=ServiceStatus.IN_PROGRESS.value,
                                       window=windows["就业创业窗口"], parent=policy,
                                       notes="帮办个体工商户注册登记"))
            if i == 5:
                self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.ASSISTANCE.value,
                                       served_on=min(datetime.date(self.year, 4, 10), self.today),
                                       handler=office.staff["干事(优抚安置)"], window=windows["优抚帮扶窗口"],
                                       status=ServiceStatus.REFERRED.value, notes="申请临时救助,已转民政办"))
            if i in (3, 4):
                self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.VISIT.value,
                                       served_on=min(datetime.date(self.year, 1, 20), self.today),
                                       handler=office.staff["干事(优抚安置)"], window=windows["优抚帮扶窗口"],
                                       status=ServiceStatus.DONE.value, notes="春节走访慰问"))
            made.append(person)
        return made

    def militia(self, office: _Office, veterans: list[Person], index: int) -> None:
        """Two years of militia (整组): last year's roster confirmed, this year's made by the roll-over.

        Last year's roster holds someone who turns 36 (aged out), someone who has since moved away, one
        marked unfit and a non-veteran core member who turns 29 (becomes ordinary). 杉山镇's roll-over is
        still in progress (待确认 rows with their notes); the other pilots have confirmed it, and each
        emergency detachment takes the best-fitting veteran candidates (rule 8)."""
        from models.militia import candidates, rollover

        t, last, this = office.township, self.year - 1, self.year
        places = [t, *office.villages]
        leader = office.village_posts[-1].appointments[0].person if office.village_posts else None
        units = self.militia_units(t, last, leader)
        young_veterans = [v for v in veterans if (age_in_year(v.birth_date, this) or 99) <= 33][:3]
        roster: list[tuple[Person, str, MilitiaUnit, str, bool]] = []
        for i, person in enumerate(young_veterans):
            roster.append((person, MilitiaCategory.CORE.value, units["应急分队"],
                           (MilitiaRole.SQUAD_LEADER if i == 0 else MilitiaRole.MEMBER).value, True))
        for i, age in enumerate((20, 22, 24, 25)):
            person = self.person(self.rng.choice(places), birth=self.born_aged(age, this))
            roster.append((person, MilitiaCategory.CORE.value, units["一班" if i % 2 == 0 else "二班"],
                           (MilitiaRole.SQUAD_LEADER if i < 2 else MilitiaRole.MEMBER).value, True))
        turning_29 = self.person(self.rng.choice(places), birth=self.born_aged(29, this))
        roster.append((turning_29, MilitiaCategory.CORE.value, units["一班"], MilitiaRole.MEMBER.value, True))
        aged_out = self.person(self.rng.choice(places), birth=self.born_aged(36, this))
        roster.append((aged_out, MilitiaCategory.ORDINARY.value, units["普通民兵连"], MilitiaRole.MEMBER.value, True))
        unfit = self.person(self.rng.choice(places), birth=self.born_aged(27, this))
        roster.append((unfit, MilitiaCategory.ORDINARY.value, units["普通民兵连"], MilitiaRole.MEMBER.value, False))
        moving = self.person(self.rng.choice(places), birth=self.born_aged(23, this))
        roster.append((moving, MilitiaCategory.ORDINARY.value, units["普通民兵连"], MilitiaRole.MEMBER.value, True))
        for person, category, unit, role, fit in roster:
            self.add(MilitiaMembership(person=person, township=t, year=last, category=category, unit=unit,
                                       unit_type=unit.kind, role=role, fit=fit,
                                       status=MilitiaMemberStatus.CONFIRMED.value))
        self.session.flush()
        others = [o for o in self.offices if o.township is not t]
        moving.region = others[index % len(others)].villages[0]  # has since moved to another pilot (户籍迁出)
        self.session.flush()
        result = rollover(self.session, t, last, this)
        self.made["militia_unit"] = self.made.get("militia_unit", 0) + len(result.units_created)
        self.made["militia_membership"] = self.made.get("militia_membership", 0) + len(result.created)
        self.session.flush()
        if index == 0:
            for m in result.created[:3]:  # 杉山镇: in progress, a few confirmed
                m.status = MilitiaMemberStatus.CONFIRMED.value
            return
        detachment = next(u for u in result.units_created if u.kind == MilitiaUnitType.EMERGENCY.value)
        picked = candidates(self.session, t, this, min_rating=MilitaryRating.GOOD.value)[:2]
        for c in picked:
            self.add(MilitiaMembership(person=c.person, township=t, year=this, category=MilitiaCategory.CORE.value,
                                       unit=detachment, unit_type=detachment.kind, role=MilitiaRole.MEMBER.value,
                                       status=MilitiaMemberStatus.CONFIRMED.value))
        for m in result.created:
            if not m.fit:
                self.session.delete(m)  # the clerk removed the unfit member
                self.made["militia_membership"] -= 1
            else:
                m.status = MilitiaMemberStatus.CONFIRMED.value
                m.review_note = None

    def born_aged(self, age: int, year: int) -> datetime.date:
        """A birthday in the first half of the year: ``age`` full years on 30 June of ``year``."""
        return datetime.date(year - age, self.rng.randint(1, 6), self.rng.randint(1, 28))

    def militia_units(self, township: Region, year: int, leader: Person | None) -> dict[str, MilitiaUnit]:
        company = self.add(MilitiaUnit(township=township, year=year, kind=MilitiaUnitType.COMPANY.value,
                                       name="基干民兵连", planned_size=12, leader=leader, sort_order=10))
        platoon = self.add(MilitiaUnit(township=township, year=year, kind=MilitiaUnitType.PLATOON.value,
                                       name="一排", planned_size=8, parent=company, sort_order=20))
        units = {"基干民兵连": company, "一排": platoon}
        for order, name in enumerate(("一班", "二班"), start=3):
            units[name] = self.add(MilitiaUnit(township=township, year=year, kind=MilitiaUnitType.SQUAD.value,
                                               name=name, planned_size=4, parent=platoon, sort_order=order * 10))
        units["应急分队"] = self.add(MilitiaUnit(township=township, year=year, kind=MilitiaUnitType.EMERGENCY.value,
                                              name="民兵应急分队", planned_size=6, sort_order=60))
        units["普通民兵连"] = self.add(MilitiaUnit(township=township, year=year, kind=MilitiaUnitType.COMPANY.value,
                                               name="普通民兵连", planned_size=20, sort_order=70))
        self.session.flush()
        return units

    def candidate_veterans(self, office: _Office) -> None:
        """Veterans whose skills and ages make the emergency-detachment candidate list interesting (rule 8):
        young ones with sought-after skills and ratings, and a 63-year-old with the best skills (too old)."""
        handler = office.staff["干事(就业创业)"]  # a staff person since revision 0007
        rows = [(24, "无人机操控", MilitaryRating.EXCELLENT), (27, "卫生救护", MilitaryRating.GOOD),
                (30, "汽车驾驶、通信", MilitaryRating.EXCELLENT), (33, "工程机械", MilitaryRating.PASS),
                (34, "侦察、无人机操控", MilitaryRating.GOOD), (63, "通信、无人机操控、卫生救护", MilitaryRating.EXCELLENT)]
        places = [office.township, *office.villages]
        for i, (age, specialty, rating) in enumerate(rows):
            person = self.person(places[i % len(places)], birth=self.born_aged(age, self.year))
            enlisted = datetime.date(person.birth_date.year + 19, 9, 1)
            discharged = datetime.date(enlisted.year + (5 if age < 40 else 16), 3, 1)
            back = min(discharged + datetime.timedelta(days=10), self.today)
            self.add(VeteranProfile(
                person=person, service=Service.ARMY.value, enlisted_on=enlisted, discharged_on=discharged,
                discharge_type=DischargeType.SELF_EMPLOYED.value, rank_at_discharge="中士", specialty=specialty,
                military_rating=rating.value, military_quality=rating.label, reported_home_on=back,
                employment_status=EmploymentStatus.FLEXIBLE.value, honor_plaque=True))
            self.add(ServiceRecord(person=person, township=office.township, kind=ServiceKind.REPORT_HOME.value,
                                   served_on=back, handler=handler, status=ServiceStatus.DONE.value,
                                   notes="返乡报到登记"))
        self.session.flush()

    def village_stations(self, office: _Office, index: int) -> None:
        """Rule 3 in each village: the Party branch head heads the village station (兼), the militia
        company leader is its officer (兼). In 杉山镇's second village the Party branch head is someone
        else, so the duty and print screens warn about it."""
        for title, role in (("村党组织负责人", VillageRole.PARTY_HEAD), ("村服务站干事", VillageRole.STATION_OFFICER)):
            if title not in self.types:
                self.types[title] = self.add(PostType(title=title, side=PostSide.VILLAGE_STATION.value,
                                                      headcount=1, sort_order=900 + len(self.types),
                                                      village_role=role.value))
        self.types["村服务站站长"].village_role = VillageRole.STATION_HEAD.value
        self.types["民兵连长"].village_role = VillageRole.MILITIA_LEADER.value
        start = datetime.date(2021, 6, 1)
        for n, village in enumerate(office.villages):
            posts = {p.title: p for p in office.village_posts if p.region is village}
            head = posts["村服务站站长"].appointments[0].person
            militia_leader = posts["民兵连长"].appointments[0].person
            party = self.add(Post(region=village, title="村党组织负责人", side=PostSide.VILLAGE_STATION.value,
                                  parent=None, sort_order=100, post_type=self.types["村党组织负责人"]))
            officer = self.add(Post(region=village, title="村服务站干事", side=PostSide.VILLAGE_STATION.value,
                                    parent=posts["村服务站站长"], sort_order=115,
                                    post_type=self.types["村服务站干事"]))
            office.village_posts += [party, officer]
            self.session.flush()
            breaks_rule = index == 0 and n == 1
            secretary = self.person(village, age=(45, 58)) if breaks_rule else head
            self.appoint(secretary, party, start, concurrent=not breaks_rule)
            self.appoint(militia_leader, officer, start, concurrent=True)

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

    b.offices = list(offices.values())
    users, listing = b.accounts(regions)
    b.post_types()
    duties = b.duties()
    for index, office in enumerate(offices.values()):
        built = b.office(office.township, office.villages)
        office.posts, office.village_posts = built.posts, built.village_posts
        b.staff(office, index)
        b.rooms_and_windows(office)
        veterans = b.veterans(office, 9)
        b.village_stations(office, index)
        b.candidate_veterans(office)
        b.militia(office, veterans, index)
        b.plan(office)
    b.adjustments(offices, duties, users)
    # 返乡报到 peaks, an overdue item and a pending 户籍迁入 (veterans window, revision 0007)
    for office in offices.values():
        b.expected_returns(office)
    pilot = list(offices.values())
    if len(pilot) > 2 and "shanshan" in users:
        b.pending_transfer(pilot[2], pilot[0], users["shanshan"])
    b.made["plan_template_item"] = seed_plan_template(session)
    session.flush()
    return {
        "counts": dict(sorted(b.made.items())),
        "accounts": listing,
        "townships": {code: o.township.name for code, o in offices.items()},
    }
