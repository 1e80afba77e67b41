"""Tree layout of the wall chart: posts → boxes (x, y, w, h) and orthogonal edges.

A pure function with no database or HTML, so tests can check geometry directly (no overlap, inside the
frame). Rendering draws the edges as one SVG and the boxes as absolutely positioned blocks, which
WeasyPrint lays out far faster than a nested-flexbox tree.

Layout: a "slot" tidy tree. A leaf takes one slot, a parent is centred over its children. When the leaves
do not fit the width at a readable size, the children of a parent whose children are all leaves are
wrapped into several rows (a grid hung from a trunk line), widest group first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

ARMED_FORCES, STATION = "armed_forces", "station"


@dataclass(frozen=True)
class PostNode:
    """What the layout needs to know about a post."""

    id: int
    title: str
    parent_id: int | None = None
    side: str = ""
    holders: tuple[tuple[str, bool], ...] = ()  # (name, concurrent)
    sort_order: int = 0

    @property
    def vacant(self) -> bool:
        return not self.holders


@dataclass
class Box:
    post_id: int
    title: str
    holders: tuple[tuple[str, bool], ...]
    side: str
    x: float
    y: float
    w: float
    h: float
    level: int = 0

    @property
    def vacant(self) -> bool:
        return not self.holders

    @property
    def holder_chars(self) -> int:
        """Characters of the holder line (names, separators, 兼 marks); 2 for 空缺."""
        if not self.holders:
            return 2
        return sum(len(name) + (1 if concurrent else 0) for name, concurrent in self.holders) + len(self.holders) - 1

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)


@dataclass
class Edge:
    """An orthogonal polyline; ``label`` is drawn beside it (e.g. 分管)."""

    points: list[tuple[float, float]]
    label: str | None = None
    label_at: tuple[float, float] | None = None


@dataclass
class Layout:
    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    title_size: float = 12.0
    name_size: float = 10.0

    def box_of(self, post_id: int) -> Box:
        return next(b for b in self.boxes if b.post_id == post_id)


def layout_tree(posts: Sequence[PostNode], width: float, height: float, *, min_slot: float = 62.0,
                max_box_w: float = 132.0, hgap: float = 10.0, max_box_h: float = 58.0) -> Layout:
    """Place ``posts`` as a tree inside ``width`` × ``height`` (points)."""
    layout = Layout(width, height)
    if not posts:
        return layout
    by_id = {p.id: p for p in posts}
    children: dict[int | None, list[PostNode]] = {}
    for p in posts:
        parent = p.parent_id if p.parent_id in by_id and p.parent_id != p.id else None
        children.setdefault(parent, []).append(p)
    for kids in children.values():
        kids.sort(key=lambda p: (p.sort_order, p.id))
    roots = list(children.get(None, []))
    reached = _reachable(roots, children)
    for p in sorted(posts, key=lambda p: (p.sort_order, p.id)):  # a parent cycle: break it at a root
        if p.id not in reached:
            roots.append(p)
            children[p.parent_id] = [c for c in children.get(p.parent_id, []) if c.id != p.id]
            reached |= _reachable([p], children)

    kids_of = {p.id: children.get(p.id, []) for p in posts}
    group = {pid for pid, kids in kids_of.items() if len(kids) >= 2 and all(not kids_of[k.id] for k in kids)}
    rows = dict.fromkeys(group, 1)

    def cols(pid: int) -> int:
        return math.ceil(len(kids_of[pid]) / rows[pid])

    def slots(pid: int) -> int:
        if not kids_of[pid]:
            return 1
        if pid in group:
            return cols(pid)
        return sum(slots(k.id) for k in kids_of[pid])

    def levels(pid: int) -> int:
        if not kids_of[pid]:
            return 1
        if pid in group:
            return 1 + rows[pid]
        return 1 + max(levels(k.id) for k in kids_of[pid])

    max_slots = max(1, int(width // min_slot))
    total = sum(slots(r.id) for r in roots)
    while total > max_slots:
        candidates = [g for g in group if cols(g) > 1]
        if not candidates:
            break
        widest = max(candidates, key=lambda g: (cols(g), -g))
        rows[widest] += 1
        total = sum(slots(r.id) for r in roots)

    depth = max(levels(r.id) for r in roots)
    slot_w = min(width / total, max_box_w + hgap)
    box_w = slot_w - hgap
    level_h = height / depth
    box_h = min(level_h * 0.64, max_box_h)
    vgap = level_h - box_h
    offset = (width - total * slot_w) / 2
    layout.title_size = _clamp(min(box_w / 6.8, box_h / 2.6), 6.5, 15.0)
    layout.name_size = _clamp(layout.title_size * 0.86, 6.0, 13.0)

    def top(level: int) -> float:
        return level * level_h + vgap / 2

    def add_box(p: PostNode, center: float, level: int) -> Box:
        box = Box(p.id, p.title, p.holders, p.side, center - box_w / 2, top(level), box_w, box_h, level)
        layout.boxes.append(box)
        return box

    def label_for(parent: PostNode, child: PostNode) -> str | None:
        return "分管" if parent.side == ARMED_FORCES and child.side == STATION else None

    def place(p: PostNode, first_slot: int, level: int) -> float:
        kids = kids_of[p.id]
        if not kids:
            center = offset + (first_slot + 0.5) * slot_w
            add_box(p, center, level)
            return center
        if p.id in group:
            ncols, nrows = cols(p.id), rows[p.id]
            center = offset + (first_slot + ncols / 2) * slot_w
            box = add_box(p, center, level)
            trunk_x = offset + first_slot * slot_w  # the gap left of the first column
            row_centers: list[list[float]] = [[] for _ in range(nrows)]
            for i, kid in enumerate(kids):
                row, col = divmod(i, ncols)
                kid_center = offset + (first_slot + col + 0.5) * slot_w
                kid_box = add_box(kid, kid_center, level + 1 + row)
                row_centers[row].append(kid_center)
                bus_y = kid_box.y - vgap / 2
                layout.edges.append(Edge([(kid_center, bus_y), (kid_center, kid_box.y)],
                                         label_for(p, kid), (kid_center, bus_y + vgap / 4)))
            first_bus = top(level + 1) - vgap / 2
            layout.edges.append(Edge([(center, box.y + box.h), (center, first_bus)]))
            for row, centers in enumerate(row_centers):
                if not centers:
                    continue
                bus_y = top(level + 1 + row) - vgap / 2
                xs = centers + ([center] if row == 0 else []) + ([trunk_x] if nrows > 1 else [])
                layout.edges.append(Edge([(min(xs), bus_y), (max(xs), bus_y)]))
            if nrows > 1:
                last_bus = top(level + nrows) - vgap / 2
                layout.edges.append(Edge([(trunk_x, first_bus), (trunk_x, last_bus)]))
            return center
        centers = []
        slot = first_slot
        for kid in kids:
            centers.append(place(kid, slot, level + 1))
            slot += slots(kid.id)
        center = (centers[0] + centers[-1]) / 2
        box = add_box(p, center, level)
        bus_y = top(level + 1) - vgap / 2
        layout.edges.append(Edge([(center, box.y + box.h), (center, bus_y)]))
        if len(centers) > 1:
            layout.edges.append(Edge([(min(centers), bus_y), (max(centers), bus_y)]))
        for kid, kid_center in zip(kids, centers, strict=True):
            layout.edges.append(Edge([(kid_center, bus_y), (kid_center, top(level + 1))],
                                     label_for(p, kid), (kid_center, bus_y + vgap / 4)))
        return center

    slot = 0
    for root in roots:
        place(root, slot, 0)
        slot += slots(root.id)
    return layout


def _reachable(roots: list[PostNode], children: dict[int | None, list[PostNode]]) -> set[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        p = stack.pop()
        if p.id in seen:
            continue
        seen.add(p.id)
        stack.extend(children.get(p.id, []))
    return seen


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
