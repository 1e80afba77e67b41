"""Lists at province scale: estimated counts for big scopes, deep pages through the primary key.

* ``EstimatedCountQuery``: the list's count query. On PostgreSQL it first asks the planner how many rows
  the list holds (``EXPLAIN``, well under a millisecond); above ``ESTIMATE_ABOVE`` it shows that estimate
  ("约 2,000,000") instead of counting millions of rows on every page. Smaller scopes (a clerk's township,
  a narrow search) are counted exactly, and SQLite always counts.
* ``deep_page``: a page far into a list reads only the ids of the rows it skips (an index-only scan of
  the primary key, or of ``(region_id, id)`` for a scoped list) and loads the 50 rows of the page by id,
  instead of fetching and joining every skipped row.
"""

from __future__ import annotations

import json

from flask_babel import gettext as _
from sqlalchemy import literal, select
from sqlalchemy.orm import Query

ESTIMATE_ABOVE = 20_000  # rows: above this (estimated) a list shows an estimate, not an exact count
DEEP_OFFSET = 5_000  # rows skipped: from here on a page is read by ids first


class Estimate(int):
    """A row count the planner estimated: a number for the pager, "约 N" where it is shown."""

    def __str__(self) -> str:
        return _("约 %(n)s", n=f"{int(self):,}")


class EstimatedCountQuery(Query):
    """A ``SELECT count(*)`` query whose ``scalar()`` estimates big counts on PostgreSQL."""

    def scalar(self):
        session = self.session
        bind = session.get_bind()
        if bind.dialect.name != "postgresql":
            return super().scalar()
        rows = planned_rows(session, self.with_entities(literal(1)))
        if rows is not None and rows > ESTIMATE_ABOVE:
            return Estimate(rows)
        return super().scalar()


def planned_rows(session, query) -> int | None:
    """The planner's estimate of the rows ``query`` returns (PostgreSQL), or None."""
    # render_postcompile: "IN" lists (a filter on several values) are expanded into plain parameters
    statement = query.statement.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
    sql = "EXPLAIN (FORMAT JSON) " + str(statement)
    raw = session.connection().exec_driver_sql(sql, statement.params).scalar()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def deep_page(query, model, offset: int, limit: int):
    """``query`` (filtered and sorted) at ``offset``: the skipped rows are read as ids only."""
    ids = (query.enable_eagerloads(False).with_entities(model.id)
           .offset(offset).limit(limit).subquery())
    return query.filter(model.id.in_(select(ids.c.id))).limit(limit)
