"""Region import (行政区划导入): an idempotent upsert of ``code,name,level,parent_code`` rows by code.

The whole file is checked before anything is written: a bad row stops the import with its line number
and a Chinese message, and the database is left unchanged. Rows may come in any order (a child before
its parent); parents are resolved by code within the file first, then in the database. When a region
gets a new parent, the paths of everything beneath it are recomputed.

The work is a handful of statements whatever the file size: one SELECT of the existing regions, one
multi-row INSERT per tree depth, and UPDATEs only for rows that changed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models import Region
from models.enums import RegionLevel
from models.region import valid_region_code

COLUMNS = ("code", "name", "level", "parent_code")
NAME_MAX = Region.__table__.c.name.type.length
PATH_MAX = Region.__table__.c.path.type.length
LINE_KEY = "_line"


class RegionImportError(ValueError):
    """A row the import cannot accept; ``line`` is the file line (the header is line 1)."""

    def __init__(self, line: int | None, message: str):
        self.line = line
        self.message = message
        super().__init__(f"第 {line} 行:{message}" if line is not None else message)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    repathed: int = 0  # regions not in the file whose path changed because an ancestor moved

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class _Row:
    line: int
    code: str
    name: str
    level: str
    parent_code: str


def read_regions_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a region CSV (UTF-8, BOM tolerated); checks the header.

    Each row carries its file line under ``LINE_KEY``, so blank lines do not shift the numbers.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise RegionImportError(1, f"表头缺少列:{', '.join(missing)}(应为 {','.join(COLUMNS)})")
            rows = []
            for row in reader:
                row[LINE_KEY] = str(reader.line_num)
                rows.append(row)
            return rows
    except UnicodeDecodeError:
        raise RegionImportError(None, "文件不是 UTF-8 编码,请另存为 UTF-8 格式的 CSV 后再导入") from None
    except csv.Error as exc:
        raise RegionImportError(None, f"CSV 格式错误:{exc}") from None


def _clean(rows: Iterable[Mapping[str, str | None]], first_line: int) -> Iterator[_Row]:
    levels = {m.value for m in RegionLevel}
    for position, raw in enumerate(rows, start=first_line):
        line = int(raw.get(LINE_KEY) or position)
        code, name, level, parent_code = ((raw.get(c) or "").strip() for c in COLUMNS)
        if not any((code, name, level, parent_code)):
            continue  # a blank line
        if not valid_region_code(code):
            raise RegionImportError(line, f"区划代码“{code}”无效,应为 12 位数字")
        if not name:
            raise RegionImportError(line, f"区划 {code} 缺少名称")
        if len(name) > NAME_MAX:
            raise RegionImportError(line, f"区划 {code} 的名称超过 {NAME_MAX} 个字")
        if level not in levels:
            raise RegionImportError(
                line, f"级别“{level}”无效,应为 {'/'.join(sorted(levels))} 之一")
        if parent_code and not valid_region_code(parent_code):
            raise RegionImportError(line, f"上级区划代码“{parent_code}”无效,应为 12 位数字")
        if parent_code == code:
            raise RegionImportError(line, f"区划 {code} 不能以自己为上级")
        yield _Row(line, code, name, level, parent_code)


def import_regions(session: Session, rows: Iterable[Mapping[str, str | None]], *,
                   first_line: int = 2, orm: bool = False) -> ImportResult:
    """Upsert ``rows`` (mappings with code, name, level, parent_code) into ``session``.

    A row's line number is its ``LINE_KEY`` value (set by ``read_regions_csv``), else its position
    counted from ``first_line`` (2 after a header). Nothing is committed: the caller commits.
    ``orm`` inserts new regions as ORM objects (the web screen: each row through the write gate as the
    logged-in user) instead of one multi-row INSERT per depth (a system actor's bulk import). A bad row raises ``RegionImportError`` before anything is written.
    """
    file_rows: dict[str, _Row] = {}
    for row in _clean(rows, first_line):
        earlier = file_rows.get(row.code)
        if earlier is not None:
            raise RegionImportError(row.line, f"区划代码 {row.code} 在文件中重复(第 {earlier.line} 行已有)")
        file_rows[row.code] = row

    existing: dict[str, Region] = {r.code: r for r in session.scalars(select(Region))}
    code_of_id = {r.id: r.code for r in existing.values()}

    # The parent of every code after the import: the file wins, the database fills in the rest.
    parent_of: dict[str, str | None] = {
        code: code_of_id.get(r.parent_id) for code, r in existing.items()}
    for code, row in file_rows.items():
        if row.parent_code and row.parent_code not in file_rows and row.parent_code not in existing:
            raise RegionImportError(row.line, f"上级区划代码 {row.parent_code} 在文件和数据库中都不存在")
        parent_of[code] = row.parent_code or None

    paths: dict[str, str] = {}
    for start in parent_of:
        if start in paths:
            continue
        chain: list[str] = []
        node: str | None = start
        while node is not None and node not in paths:
            if node in chain:
                bad = next((file_rows[c] for c in chain if c in file_rows), None)
                raise RegionImportError(bad.line if bad else None,
                                        f"上级区划关系形成循环:{' → '.join(chain)}")
            chain.append(node)
            node = parent_of[node]
        prefix = paths[node] if node is not None else ""
        for code in reversed(chain):
            prefix += code + "/"
            if len(prefix) > PATH_MAX:
                row = file_rows.get(code)
                raise RegionImportError(row.line if row else None, f"区划 {code} 的层级过深")
            paths[code] = prefix

    # Nothing has been written so far; from here on the rows are known to be valid.
    id_of = {code: r.id for code, r in existing.items()}
    objects: dict[str, Region] = dict(existing)
    new_codes = sorted((c for c in file_rows if c not in existing), key=lambda c: paths[c].count("/"))
    depth_groups: dict[int, list[str]] = {}
    for code in new_codes:
        depth_groups.setdefault(paths[code].count("/"), []).append(code)
    for depth in sorted(depth_groups):
        values = [{"code": c, "name": file_rows[c].name, "level": file_rows[c].level,
                   "parent_id": id_of[parent_of[c]] if parent_of[c] else None, "path": paths[c]}
                  for c in depth_groups[depth]]
        if orm:  # one object per region: the write gate checks each against the acting user's scope
            made = []
            for value in values:
                region = Region(**{k: v for k, v in value.items() if k != "parent_id"})
                region.parent = objects.get(parent_of[value["code"]] or "")  # check() derives the path from it
                objects[region.code] = region
                made.append(region)
            session.add_all(made)
            session.flush()
            id_of.update((r.code, r.id) for r in made)
            continue
        for region_id, code in session.execute(
                insert(Region).returning(Region.id, Region.code), values):
            id_of[code] = region_id

    updated = unchanged = repathed = 0
    for code, region in existing.items():
        row = file_rows.get(code)
        wanted_parent = id_of[parent_of[code]] if parent_of[code] else None
        changes = {"path": paths[code]}
        if row is not None:
            changes.update(name=row.name, level=row.level, parent_id=wanted_parent)
        dirty = {k: v for k, v in changes.items() if getattr(region, k) != v}
        if dirty:
            for key, value in dirty.items():
                setattr(region, key, value)
            if row is not None:
                updated += 1
            else:
                repathed += 1
        elif row is not None:
            unchanged += 1
    session.flush()
    return ImportResult(created=len(new_codes), updated=updated, unchanged=unchanged, repathed=repathed)


def import_regions_file(session: Session, path: str | Path) -> ImportResult:
    """Read and import a CSV file (see ``read_regions_csv``)."""
    return import_regions(session, read_regions_csv(path))
