"""Village stations (村服务站) and rule 3: the village Party branch head (党组织负责人) is the station head,
and the militia company/platoon leader (民兵连(排)长) is the station's officer (干事, 兼).

Which catalogue post plays which part is ``PostType.village_role`` (the city's catalogue); the rule is
read from current appointments, so it shows wherever the data is (duty screen, prints, wall chart).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .enums import RegionLevel, VillageRole
from .org import Appointment, Post, PostType
from .region import Region


@dataclass
class VillageStation:
    village: Region
    holders: dict[str, list[tuple[str, int, bool]]] = field(default_factory=dict)  # role → (name, id, 兼)
    problems: list[str] = field(default_factory=list)

    def names(self, role: VillageRole) -> str:
        return "、".join(f"{n}(兼)" if c else n for n, _i, c in self.holders.get(role.value, [])) or "空缺"

    def people(self, role: VillageRole) -> set[int]:
        return {i for _n, i, _c in self.holders.get(role.value, [])}


def village_stations(session: Session, township: Region, day: datetime.date | None = None) -> list[VillageStation]:
    """Every village of the township with its station's role holders and the rule-3 problems found."""
    day = day or datetime.date.today()
    villages = list(session.scalars(select(Region).where(Region.path.like(township.path + "%"),
                                                         Region.level == RegionLevel.VILLAGE.value)
                                    .order_by(Region.code)))
    if not villages:
        return []
    stations = {v.id: VillageStation(v) for v in villages}
    posts = session.scalars(
        select(Post).join(Post.post_type).where(Post.region_id.in_(list(stations)), PostType.village_role.is_not(None))
        .options(selectinload(Post.appointments).selectinload(Appointment.person)))
    for post in posts:
        role = post.post_type.village_role
        held = stations[post.region_id].holders.setdefault(role, [])
        for a in sorted(post.current_appointments(day), key=lambda a: (a.start_on, a.id)):
            held.append((a.person.name, a.person_id, bool(a.concurrent)))
    for station in stations.values():
        station.problems = rule_problems(station)
    return list(stations.values())


def rule_problems(station: VillageStation) -> list[str]:
    """Rule 3 for one village, in words (empty when it holds or when the posts are not set up)."""
    out = []
    name = station.village.name
    heads, party = station.people(VillageRole.STATION_HEAD), station.people(VillageRole.PARTY_HEAD)
    if heads and not party:
        out.append(f"{name}未登记村党组织负责人")
    elif heads and not heads <= party:
        out.append(f"{name}村服务站站长({station.names(VillageRole.STATION_HEAD)})不是村党组织负责人"
                   f"({station.names(VillageRole.PARTY_HEAD)})")
    leaders, officers = station.people(VillageRole.MILITIA_LEADER), station.people(VillageRole.STATION_OFFICER)
    if leaders and not leaders <= officers:
        out.append(f"{name}民兵连(排)长({station.names(VillageRole.MILITIA_LEADER)})未兼任村服务站干事")
    return out


def village_rule_problems(session: Session, township: Region, day: datetime.date | None = None) -> list[str]:
    return [p for s in village_stations(session, township, day) for p in s.problems]
