"""Property-based: whatever is posted into any generated form or hand-made POST, never a 5xx, and a
refused request (anything but a redirect after saving) leaves the database as it was.

Bounded for CI (``derandomize``: the same examples every run; no example database written): about
15 examples per generated screen and 200 over the hand-made POSTs, well inside a minute per database.
``YBY_FUZZ_EXAMPLES`` raises the count for a longer local run.
"""

from __future__ import annotations

import collections
import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_access_matrix import build_rows, parse_form, snapshot

SCALE = int(os.environ.get("YBY_FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=15 * SCALE, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)
HAND_FUZZ = settings(FUZZ, max_examples=200 * SCALE)

NASTY = ["", " ", "\x00", "a\x00b", "\t=1+1", "1e309", "-1e309", "Infinity", "-Infinity", "NaN", "sNaN",
         str(2**31), str(-(2**31) - 1), str(2**63), str(2**70), f"-{2**70}", "-1", "0", "1.5", "9" * 400,
         "x" * 5000, "中" * 3000, "9999-12-31", "0001-01-01", "2026-02-30", "1900-01-01", "=cmd|' /C calc'!A0",
         "<script>alert(1)</script>", "' OR 1=1 --", "%", "_", "\\", "__None", "y", "on",
         "431302199001010018", "[]", "{}", "null"]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUES = st.one_of(st.sampled_from(NASTY), st.integers().map(str), st.floats().map(str), TEXT)
HUGE_IDS = st.one_of(st.sampled_from(NASTY), st.integers(min_value=10**6).map(str),
                     st.integers(max_value=-1).map(str))

STATS: collections.Counter = collections.Counter()


def _check(rv, before, db, what) -> None:
    STATS["requests"] += 1
    STATS[f"{rv.status_code // 100}xx"] += 1
    assert rv.status_code < 500, (what, rv.status_code, rv.get_data(as_text=True)[:800])
    if rv.status_code != 302:
        assert snapshot(db) == before, (what, rv.status_code)


@pytest.fixture()
def fuzz_world(world, db):
    rows = build_rows(db, world.shanshan)
    db.session.commit()
    return rows


def test_generated_forms_never_500(client, login, app, db, world, fuzz_world, endpoint):
    """Every generated screen (``endpoint``): create, edit, delete, bulk action, list arguments."""
    from conftest import generated_views

    view = next(v for v in generated_views(app) if v.endpoint == endpoint)
    obj = fuzz_world[view.model.__name__]
    base = f"/admin/{endpoint}"
    login("city")

    @FUZZ
    @given(data=st.data())
    def run(data):
        mode = data.draw(st.sampled_from(["create", "edit", "edit", "delete", "action", "list"]), label="mode")
        STATS["examples"] += 1
        before = snapshot(db)
        if mode == "delete":
            rv = client.post(f"{base}/delete/", data={"id": data.draw(HUGE_IDS, label="id")})
        elif mode == "action":
            rv = client.post(f"{base}/action/", data={"action": data.draw(st.sampled_from(["delete", "x"])),
                                                      "rowid": data.draw(st.lists(HUGE_IDS, max_size=3))})
        elif mode == "list":
            keys = ["page", "page_size", "sort", "desc", "search"] + [f"flt0_{i}" for i in
                                                                      range(len(view._filters or []))]
            args = data.draw(st.dictionaries(st.sampled_from(keys), VALUES, max_size=3), label="args")
            rv = client.get(f"{base}/", query_string=args)
        else:
            url = f"{base}/new/" if mode == "create" else f"{base}/edit/?id={obj.id}"
            page = client.get(url)
            assert page.status_code < 500
            if page.status_code != 200:  # a read-only screen, or the row was changed away
                return
            form = parse_form(page.get_data(as_text=True))
            keys = sorted(form.values) or ["_"]
            # field positions, not names: the form may differ between examples (a saved edit adds an
            # inline row), and what is drawn must not depend on it
            changes = data.draw(st.lists(st.tuples(st.integers(0, 63), VALUES), min_size=1, max_size=4),
                                label="changes")
            form.values.update({keys[i % len(keys)]: value for i, value in changes})
            rv = client.post(url, data=form.values)
        _check(rv, before, db, (endpoint, mode))

    run()


def _hand_made_routes(world, rows) -> list[tuple[str, list[str]]]:
    code = world.shanshan.code
    item = rows["PlanItem"]
    return [
        (f"/admin/duties/{code}/adjust", ["action", "line", "target_post", "duty_name", "category", "reason",
                                          "new_wording"]),
        (f"/admin/duties/{code}/revert", ["all", "line"]),
        ("/admin/duty-template/line", ["id", "post_title", "wording", "duty_name", "category", "row_version"]),
        ("/admin/duty-template/move", ["id", "direction"]),
        ("/admin/duty-template/delete", ["id"]),
        ("/admin/plans/instantiate", ["code", "year"]),
        (f"/admin/plans/item/{item.id}/status", ["status", "completed_on", "note", "row_version"]),
        ("/admin/history/1/restore", ["next"]),
        ("/admin/rights/", ["role", "model", "action", "allowed", "model_name"]),
        ("/login", ["username", "password", "next"]),
        ("/admin/person/import/report.xlsx", ["errors"]),
    ]


def test_hand_made_posts_never_500(client, login, app, db, world, fuzz_world):
    from models import AuditLog

    rows = fuzz_world
    routes = _hand_made_routes(world, rows)
    ids = [str(rows[name].id) for name in ("DutyTemplateEntry", "DutyAdjustment", "PlanItem", "Post")]
    first_log = db.session.query(AuditLog.id).order_by(AuditLog.id).limit(1).scalar()
    routes.append((f"/admin/history/{first_log or 1}/restore", ["next"]))
    lines = [f"e{rows['DutyTemplateEntry'].id}", f"a{rows['DutyAdjustment'].id}", "e1", "x"]
    field_values = {
        "id": st.one_of(st.sampled_from(ids), VALUES), "target_post": st.one_of(st.sampled_from(ids), VALUES),
        "line": st.one_of(st.sampled_from(lines), VALUES), "code": st.sampled_from([world.shanshan.code, "x"]),
        "action": st.one_of(st.sampled_from(["add", "remove", "move", "reword"]), VALUES),
        "status": st.one_of(st.sampled_from(["planned", "in_progress", "done", "dropped"]), VALUES),
        "category": st.one_of(st.sampled_from(["armed_forces", "veterans", "non_core"]), VALUES),
        "errors": st.one_of(st.just(json.dumps([{"line": "=1+1", "message": "\x00"}] * 3)), VALUES),
    }
    uploads = [f"/admin/{name}/import/" for name in ("person", "room", "post", "veteran_profile")]
    login("city")

    @HAND_FUZZ
    @given(data=st.data())
    def run(data):
        STATS["hand_examples"] += 1
        before = snapshot(db)
        if data.draw(st.integers(0, 5), label="upload?") == 0:
            url = data.draw(st.sampled_from(uploads), label="url")
            payload = data.draw(st.one_of(st.binary(max_size=2000), VALUES.map(str.encode)), label="payload")
            name = data.draw(st.sampled_from(["a.csv", "a.xlsx", "a.txt", "", "\x00.csv"]), label="name")
            rv = client.post(url, data={"file": (io.BytesIO(payload), name)}, content_type="multipart/form-data")
        else:
            url, names = data.draw(st.sampled_from(routes), label="route")
            form = data.draw(st.fixed_dictionaries({}, optional={
                n: field_values.get(n, VALUES) for n in names}), label="form")
            rv = client.post(url, data=form)
            if url == "/login":
                login("city")  # a failed login may have ended the session; the next example needs one
        _check(rv, before, db, url)

    run()


def test_report_numbers():
    """Prints what the fuzz did in this run (``pytest -s``) for the closing note of the issue."""
    print(f"\nfuzz: {dict(STATS)}")
