"""A city-scale database for benchmarks: 娄底市, its 89 townships, 100,000 people with veteran profiles.

Regions come from ``tests/fixtures/regions-hunan.csv`` (the 4313* rows) when that file exists, else
89 townships are synthesised under 娄底市 with 5 counties. The app itself never needs this module.

The file SQLite database is cached in ``bench/out/`` under a name keyed by a hash of the schema and of
this generator's parameters, so reruns reuse it; a PostgreSQL database is rebuilt only when the hash
stored in its ``bench_meta`` table differs.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import os
import random
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, func, insert, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, CreateTable
from stdnum.cn import ric

from models import Base, Grant, Person, Region, User, VeteranProfile
from models.enums import DischargeType, Education, EmploymentStatus, PoliticalStatus, Service
from models.people import name_pinyin, search_grams

OUT_DIR = Path(__file__).resolve().parent / "out"
HUNAN_CSV = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "regions-hunan.csv"
REGIONS_CSV = Path(os.environ.get("BENCH_REGIONS_CSV", HUNAN_CSV))
CITY_CODE = "431300000000"
CLERK_TOWNSHIP = "431302100000"  # 杉山镇
PASSWORD = "yibuyizhan-bench"  # noqa: S105
DATA_VERSION = 2  # bump when the generated data changes shape
BATCH = 5000

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
                "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺")
GIVEN = list("建国华军平明伟强军红英志勇杰峰刚辉磊洪涛斌超波鹏宇浩俊文武德生海林春秀兰芳丽娟霞敏静"
             "云飞龙凤玉珍桂梅新民利忠诚永福荣光亮东南湘楚岳衡娄涟双")


@dataclass
class CityData:
    """What a benchmark needs to know about the built database."""

    url: str
    people: int
    townships: int
    city_user: str
    clerk_user: str
    password: str
    clerk_township: str
    built: bool
    seconds: float


def schema_hash(people: int) -> str:
    """A short hash of the DDL (tables and indexes) and the generator's parameters."""
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    parts = [f"v{DATA_VERSION} n{people} csv{REGIONS_CSV.exists()}"]
    for table in Base.metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)))
        parts.extend(str(CreateIndex(ix).compile(dialect=dialect)) for ix in sorted(
            table.indexes, key=lambda i: i.name or ""))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _region_rows() -> list[tuple[str, str, str, str | None]]:
    """(code, name, level, parent_code) of 娄底市, its counties and townships, parents first."""
    if REGIONS_CSV.exists():
        with REGIONS_CSV.open(encoding="utf-8") as fh:
            rows = [(r["code"], r["name"], r["level"], r["parent_code"] or None)
                    for r in csv.DictReader(fh) if r["code"].startswith("4313")]
        order = {"city": 0, "county": 1, "township": 2}
        rows.sort(key=lambda r: (order.get(r[2], 9), r[0]))
        rows[0] = (rows[0][0], rows[0][1], rows[0][2], None)  # the city is the root here
        return rows
    counties = [("431302000000", "娄星区"), ("431321000000", "双峰县"), ("431322000000", "新化县"),
                ("431381000000", "冷水江市"), ("431382000000", "涟源市")]
    rows = [(CITY_CODE, "娄底市", "city", None)]
    rows += [(code, name, "county", CITY_CODE) for code, name in counties]
    rows.append((CLERK_TOWNSHIP, "杉山镇", "township", "431302000000"))
    for i in range(88):
        code, _ = counties[i % 5]
        rows.append((f"{code[:6]}{200 + i:03d}000", f"第{i + 1}镇", "township", code))
    return rows


@cache
def _pinyin(name: str) -> tuple[str, str]:
    return name_pinyin(name)


def _id_number(area6: str, i: int) -> str:
    birth = datetime.date(1955, 1, 1) + datetime.timedelta(days=i % 16000)
    seq = i // 16000  # (birth, seq) is unique for i < 16,000,000 … well beyond the benchmark
    body = f"{area6}{birth:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body)


def _populate(session: Session, people: int) -> None:
    rnd = random.Random(20230501)  # noqa: S311 - reproducible fake data
    ids: dict[str, int] = {}
    townships: list[tuple[int, str]] = []
    for code, name, level, parent in _region_rows():
        region = Region(code=code, name=name, level=level, parent_id=ids.get(parent) if parent else None)
        parent_path = session.get(Region, ids[parent]).path if parent else ""
        region.path = parent_path + code + "/"
        session.add(region)
        session.flush()
        ids[code] = region.id
        if level == "township":
            townships.append((region.id, code[:6]))
    for username, role, code in (("bench_city", "city_admin", CITY_CODE),
                                 ("bench_clerk", "clerk", CLERK_TOWNSHIP)):
        user = User(username=username, display_name=username)
        user.set_password(PASSWORD)
        session.add(user)
        session.flush()
        session.add(Grant(user_id=user.id, role=role, region_id=ids[code]))
    session.flush()

    services = [m.value for m in Service]
    discharge = [m.value for m in DischargeType]
    employment = [m.value for m in EmploymentStatus]
    political = [m.value for m in PoliticalStatus]
    education = [m.value for m in Education]
    person_rows, profile_rows = [], []
    for i in range(people):
        pid = i + 1
        region_id, area6 = townships[i % len(townships)]
        given = rnd.choice(GIVEN) + (rnd.choice(GIVEN) if rnd.random() < 0.7 else "")
        name = rnd.choice(SURNAMES) + given
        full, initials = _pinyin(name)
        number = _id_number(area6, i)
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        person_rows.append({
            "id": pid, "name": name, "name_pinyin": full, "name_initials": initials,
            "search_grams": search_grams(name),
            "gender": "male" if int(number[16]) % 2 else "female", "ethnicity": "汉族",
            "id_number": number, "birth_date": born, "phone": f"13{rnd.randrange(10**9):09d}",
            "political_status": rnd.choice(political), "education": rnd.choice(education),
            "address": f"娄底市某路{rnd.randrange(1, 999)}号", "region_id": region_id,
        })
        enlisted = born.replace(year=born.year + 18) if not (born.month == 2 and born.day == 29) else \
            datetime.date(born.year + 18, 3, 1)
        discharged = enlisted + datetime.timedelta(days=365 * rnd.choice((2, 5, 8, 12, 16)))
        profile_rows.append({
            "person_id": pid, "service": rnd.choice(services), "enlisted_on": enlisted,
            "discharged_on": discharged, "discharge_type": rnd.choice(discharge),
            "reported_home_on": discharged + datetime.timedelta(days=rnd.randrange(5, 30)),
            "employment_status": rnd.choice(employment), "honor_plaque": rnd.random() < 0.6,
            "specialty": rnd.choice((None, "驾驶", "无人机", "通信", "医疗救护", "电工")),
        })
        if len(person_rows) >= BATCH:
            session.execute(insert(Person), person_rows)
            session.execute(insert(VeteranProfile), profile_rows)
            person_rows, profile_rows = [], []
    if person_rows:
        session.execute(insert(Person), person_rows)
        session.execute(insert(VeteranProfile), profile_rows)


def _meta_hash(engine) -> str | None:
    if not inspect(engine).has_table("bench_meta"):
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT value FROM bench_meta WHERE key = 'hash'")).scalar()


def build(people: int = 100_000, url: str | None = None, verbose: bool = True) -> CityData:
    """Build (or reuse) the city database; ``url`` None means a cached file SQLite in bench/out/."""
    digest = schema_hash(people)
    if url is None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        target = OUT_DIR / f"city-{people}-{digest}.sqlite"
        for stale in OUT_DIR.glob(f"city-{people}-*.sqlite"):
            if stale != target:  # built for an older schema
                stale.unlink()
        url = f"sqlite:///{target}"
    from admin_app.config import normalise_database_url

    url = normalise_database_url(url)
    engine = create_engine(url)
    start = time.perf_counter()
    built = False
    if _meta_hash(engine) != digest:
        if verbose:
            print(f"building city database ({people:,} people) at {engine.url!r} …", flush=True)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS bench_meta"))
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            _populate(session, people)
            session.execute(text("CREATE TABLE IF NOT EXISTS bench_meta (key VARCHAR(20), value VARCHAR(40))"))
            session.execute(text("DELETE FROM bench_meta"))
            session.execute(text("INSERT INTO bench_meta VALUES ('hash', :h)"), {"h": digest})
            session.commit()
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                if people:  # explicit ids were inserted: move the sequence past them
                    conn.execute(text("SELECT setval(pg_get_serial_sequence('person', 'id'), :n)"),
                                 {"n": people})
            # What autovacuum does to a settled table: statistics plus the visibility map, so counts
            # inside a township are index-only scans.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        built = True
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Region).where(Region.level == "township"))
    engine.dispose()
    seconds = time.perf_counter() - start
    if verbose:
        print(f"city database {'built' if built else 'reused'} in {seconds:.1f} s: {url}", flush=True)
    return CityData(url=url, people=people, townships=int(count), city_user="bench_city",
                    clerk_user="bench_clerk", password=PASSWORD, clerk_township=CLERK_TOWNSHIP,
                    built=built, seconds=seconds)


# -- province scale (PostgreSQL only): ~2,000 townships, millions of people, built inside the server --
PROVINCE_CODE = "430000000000"
PROVINCE_PEOPLE = 2_000_000


@dataclass
class ProvinceData:
    """The province database: who logs in, and what the figures look up."""

    url: str
    people: int
    townships: int
    province_user: str
    city_user: str
    clerk_user: str
    password: str
    clerk_township: str
    seconds: float


def _province_regions() -> list[tuple[str, str, str, str | None]]:
    """Every region of the Hunan file (province, cities, counties, townships), parents first."""
    if not REGIONS_CSV.exists():
        raise SystemExit(f"the province benchmark needs {REGIONS_CSV}")
    with REGIONS_CSV.open(encoding="utf-8") as fh:
        rows = [(r["code"], r["name"], r["level"], r["parent_code"] or None) for r in csv.DictReader(fh)]
    order = {"province": 0, "city": 1, "county": 2, "township": 3, "village": 4}
    rows.sort(key=lambda r: (order.get(r[2], 9), r[0]))
    return rows


def _char_table() -> tuple[list[str], list[str], list[str], list[str]]:
    """Surname and given-name characters with their usual reading (one reading each: enough for timing)."""
    from models.people import name_readings

    def reading(ch: str) -> str:
        found = name_readings(ch)
        return "".join(found[0]) if found and found[0] else ""

    surnames = list(dict.fromkeys(SURNAMES))
    given = list(dict.fromkeys(GIVEN))
    return surnames, [reading(c) for c in surnames], given, [reading(c) for c in given]


# One INSERT … SELECT over generate_series: names from the character tables, pinyin, initials and the
# search pieces derived in SQL exactly as the application derives them, ID numbers with their check digit.
PEOPLE_SQL = """
INSERT INTO person (id, name, name_pinyin, name_initials, search_grams, gender, ethnicity, id_number,
                    birth_date, phone, political_status, education, address, region_id, version)
SELECT i, c1 || c2 || coalesce(c3, ''), p1 || p2 || coalesce(p3, ''),
       left(p1, 1) || left(p2, 1) || coalesce(left(p3, 1), ''),
       ARRAY(SELECT DISTINCT x COLLATE "C" FROM unnest(ARRAY[c1, c2, c3, c1 || c2, c2 || c3]) AS x
             WHERE x IS NOT NULL ORDER BY 1),
       CASE WHEN substr(body, 17, 1)::int % 2 = 1 THEN 'male' ELSE 'female' END, '汉族',
       body || substr('10X98765432', (
           SELECT sum(substr(body, k, 1)::int * (ARRAY[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2])[k])::int % 11
           FROM generate_series(1, 17) AS k) + 1, 1),
       born, '13' || lpad((floor(r1 * 1000000000))::bigint::text, 9, '0'),
       (CAST(:political AS text[]))[1 + floor(r2 * cardinality(CAST(:political AS text[])))::int],
       (CAST(:education AS text[]))[1 + floor(r3 * cardinality(CAST(:education AS text[])))::int],
       '湖南省某路' || (1 + floor(r1 * 998))::int || '号', region, 1
FROM (
    SELECT i, c1, p1, c2, p2, c3, p3, born, region, r1, r2, r3,
           area || to_char(born, 'YYYYMMDD') || lpad((i / 16000)::text, 3, '0') AS body
    FROM (
        SELECT i, (CAST(:sn AS text[]))[s] AS c1, (CAST(:sp AS text[]))[s] AS p1, (CAST(:gn AS text[]))[g1] AS c2, (CAST(:gp AS text[]))[g1] AS p2,
               CASE WHEN g2 > 0 THEN (CAST(:gn AS text[]))[g2] END AS c3, CASE WHEN g2 > 0 THEN (CAST(:gp AS text[]))[g2] END AS p3,
               DATE '1955-01-01' + (i % 16000) AS born, (CAST(:regions AS integer[]))[1 + i % cardinality(CAST(:regions AS integer[]))] AS region,
               (CAST(:areas AS text[]))[1 + i % cardinality(CAST(:areas AS text[]))] AS area, r1, r2, r3
        FROM (
            SELECT i, 1 + floor(random() * cardinality(CAST(:sn AS text[])))::int AS s,
                   1 + floor(random() * cardinality(CAST(:gn AS text[])))::int AS g1,
                   CASE WHEN random() < 0.7 THEN 1 + floor(random() * cardinality(CAST(:gn AS text[])))::int ELSE 0 END AS g2,
                   random() AS r1, random() AS r2, random() AS r3
            FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i
        ) AS picked
    ) AS named
) AS rows
"""


def build_province(url: str, people: int = PROVINCE_PEOPLE, verbose: bool = True) -> ProvinceData:
    """Create the schema in the (empty) PostgreSQL database ``url`` and fill it inside the server:
    the Hunan regions, three users and ``people`` persons spread over every township."""
    from admin_app.config import normalise_database_url
    from models.enums import Education, PoliticalStatus

    url = normalise_database_url(url)
    engine = create_engine(url)
    if engine.dialect.name != "postgresql":
        raise SystemExit("the province benchmark runs on PostgreSQL")
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    Base.metadata.create_all(engine)
    person_indexes = list(Person.__table__.indexes)
    with engine.begin() as conn:  # indexes are built once, after the rows (much faster than row by row)
        for ix in person_indexes:
            conn.execute(text(f'DROP INDEX IF EXISTS "{ix.name}"'))

    townships: list[tuple[int, str]] = []
    with Session(engine) as session:
        ids: dict[str, int] = {}
        paths: dict[str, str] = {}
        for code, name, level, parent in _province_regions():
            path = (paths[parent] if parent in paths else "") + code + "/"
            region = Region(code=code, name=name, level=level, parent_id=ids.get(parent), path=path)
            session.add(region)
            session.flush()
            ids[code], paths[code] = region.id, path
            if level == "township":
                townships.append((region.id, code[:6]))
        for username, role, code in (("bench_province", "city_admin", PROVINCE_CODE),
                                     ("bench_city", "city_admin", CITY_CODE),
                                     ("bench_clerk", "clerk", CLERK_TOWNSHIP)):
            user = User(username=username, display_name=username)
            user.set_password(PASSWORD)
            session.add(user)
            session.flush()
            session.add(Grant(user_id=user.id, role=role, region_id=ids[code]))
        session.commit()
    if verbose:
        print(f"  regions and users in {time.perf_counter() - start:.1f} s; {len(townships)} townships",
              flush=True)

    sn, sp, gn, gp = _char_table()
    params = {"sn": sn, "sp": sp, "gn": gn, "gp": gp,
              "political": [m.value for m in PoliticalStatus], "education": [m.value for m in Education],
              "regions": [t[0] for t in townships], "areas": [t[1] for t in townships]}
    chunk = 250_000
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(0.20230501)"))
        for first in range(1, people + 1, chunk):
            conn.execute(text(PEOPLE_SQL), {**params, "first": first, "last": min(people, first + chunk - 1)})
            if verbose:
                print(f"  {min(people, first + chunk - 1):,} people after {time.perf_counter() - start:.0f} s",
                      flush=True)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('person', 'id'), :n)"), {"n": people})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for ix in person_indexes:
            began = time.perf_counter()
            ix.create(conn)
            if verbose:
                print(f"  index {ix.name} in {time.perf_counter() - began:.1f} s", flush=True)
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    seconds = time.perf_counter() - start
    if verbose:
        print(f"province database built in {seconds:.0f} s: {people:,} people, {len(townships)} townships",
              flush=True)
    return ProvinceData(url=url, people=people, townships=len(townships), province_user="bench_province",
                        city_user="bench_city", clerk_user="bench_clerk", password=PASSWORD,
                        clerk_township=CLERK_TOWNSHIP, seconds=seconds)
