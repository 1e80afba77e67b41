"""English is the second locale: ?lang=en switches the login page and the generated screens.

The English catalogue is compiled from admin_app/translations/en/LC_MESSAGES/messages.po (``make
translations``); the tests compile it themselves when the .mo is missing, as in a fresh clone.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from admin_app.translations.extract import schema_strings
from models import Person

TRANSLATIONS = Path(__file__).resolve().parent.parent / "admin_app" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue():
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        with PO.open("rb") as src:
            catalog = read_po(src, locale="en")
        partial = MO.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as out:
            write_mo(out, catalog)
        os.replace(partial, MO)  # atomic: a parallel run never reads half a catalogue


def _text(rv) -> str:
    return rv.get_data(as_text=True)


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    page = _text(client.get("/login"))
    assert "用户名" in page and "密码" in page and "登录" in page

    page = _text(client.get("/login?lang=en"))
    assert "Username" in page and "Password" in page and "Log in" in page
    assert "用户名" not in page and "密码" not in page

    # The choice sticks for the session, and switching back works.
    assert "Username" in _text(client.get("/login"))
    assert "用户名" in _text(client.get("/login?lang=zh_Hans_CN"))


def test_unknown_language_falls_back_to_chinese(client):
    page = _text(client.get("/login?lang=xx"))
    assert "用户名" in page


def test_login_errors_are_translated(client, world):
    page = _text(client.post("/login?lang=en", data={"username": "shanshan", "password": "wrong-password"}))
    assert "Wrong username or password" in page
    assert "用户名或密码错误" not in page


def test_list_page_in_english(client, world, login, db):
    login("shanshan")
    rv = client.post("/admin/person/new/", data={"name": "周洪杰", "region": str(world.shanshan.id),
                                                "gender": "male"})
    assert rv.status_code == 302
    assert db.session.query(Person).filter_by(name="周洪杰").count() == 1

    page = _text(client.get("/admin/person/?lang=en"))
    # Column labels, enum labels and menu entries come from the schema and are translated at render time.
    for english in ("Name", "Gender", "Male", "People", "Log out"):
        assert english in page, english
    for chinese in ("姓名", "性别", "退出"):
        assert chinese not in page, chinese
    assert "周洪杰" in page  # data is never translated

    page = _text(client.get("/admin/person/?lang=zh_Hans_CN"))
    for chinese in ("姓名", "性别", "男", "人员", "退出"):
        assert chinese in page, chinese


def test_form_in_english(client, world, login):
    login("shanshan")
    page = _text(client.get("/admin/person/new/?lang=en"))
    for english in ("Name", "Gender", "Male", "Female", "Citizen ID number"):
        assert english in page, english
    assert "公民身份号码" not in page


def test_catalogue_is_complete_and_keeps_placeholders():
    with PO.open("rb") as src:
        catalog = read_po(src, locale="en")
    entries = [m for m in catalog if m.id]
    assert len(entries) > 100
    untranslated = [m.id for m in entries if not m.string]
    assert untranslated == []
    for m in entries:
        assert sorted(re.findall(r"%\(\w+\)\w", m.id)) == sorted(re.findall(r"%\(\w+\)\w", m.string)), m.id
        # Chinese only inside quotes, for values the user must type as they are ("是"/"否").
        assert not CJK.search(re.sub(r'"[^"]*"', "", m.string)), m.id


def test_every_schema_label_has_an_english_translation():
    """A label added to models/ without a translation would show Chinese in the English UI."""
    with PO.open("rb") as src:
        known = {m.id for m in read_po(src, locale="en") if m.id and m.string}
    models_dir = Path(__file__).resolve().parent.parent / "models"
    found = set()
    for path in models_dir.glob("*.py"):
        found |= {text for _line, text in schema_strings(ast.parse(path.read_text(encoding="utf-8")))}
    assert "姓名" in found and "男" in found and "行政区划" in found  # the extractor sees labels and enums
    missing = sorted(found - known)
    assert missing == [], f"run `make messages` and translate: {missing}"
