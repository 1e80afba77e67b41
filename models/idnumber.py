"""公民身份号码 checks: checksum and birth date are hard rules; the area code only warns."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError


class IdNumberError(ValueError):
    """Raised with a Chinese message a clerk can act on."""


@dataclass
class IdNumber:
    number: str
    birth_date: datetime.date
    gender: str  # "male" / "female"
    warnings: list[str] = field(default_factory=list)


def _area_known(area: str, birth: str) -> bool:
    """Did the area code exist in that birth year (stdnum's table)? Only a warning hangs on it, so the
    year is precise enough, and the answer is cached per (area, year): an import repeats both."""
    return _area_known_in(area, birth[:4])


@functools.lru_cache(maxsize=65536)
def _area_known_in(area: str, year: str) -> bool:
    try:
        ric.validate(_with_check(area + year + "0701" + "001"))
    except StdnumError:
        return False
    return True


def _with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def parse_id_number(value: str, today: datetime.date | None = None) -> IdNumber:
    """Normalise and check an 18-character ID number.

    Accepts a lowercase ``x``; returns it upper-cased. Rejects a bad length, bad characters,
    a bad check character or an impossible or future birth date. An area code that does not
    exist (or did not exist in the birth year, such as 431302 for 1990) is only a warning:
    stdnum's full ``validate()`` would refuse real numbers.
    """
    number = ric.compact(value or "").upper()
    if len(number) != 18:
        raise IdNumberError("公民身份号码应为 18 位")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise IdNumberError("公民身份号码只能由数字组成,最后一位可为 X")
    try:
        birth = ric.get_birth_date(number)
    except StdnumError:
        raise IdNumberError("公民身份号码中的出生日期无效") from None
    today = today or datetime.date.today()
    if birth > today or birth.year < 1900:
        raise IdNumberError("公民身份号码中的出生日期无效")
    if ric.calc_check_digit(number) != number[17]:
        raise IdNumberError("公民身份号码校验位错误,请核对")
    warnings = []
    if not _area_known(number[:6], number[6:14]):
        warnings.append("行政区划代码未知或已撤销(如老号码 4325xx),已按校验位和出生日期接受")
    gender = "male" if int(number[16]) % 2 == 1 else "female"
    return IdNumber(number=number, birth_date=birth, gender=gender, warnings=warnings)


def mask_id_number(number: str | None) -> str:
    """``431302199001010018`` → ``4313**********0018``: the county (digits 5–6) and the birth date
    (digits 7–14) are never shown (see ``admin_app.privacy`` for the whole policy)."""
    if not number:
        return ""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_birth_date(value: datetime.date | None) -> str:
    """The year only: ``1990-01-01`` → ``1990``; month and day would complete a masked ID number."""
    if value is None:
        return ""
    return str(value.year)


def mask_phone(phone: str | None) -> str:
    """``13812341234`` → ``138****1234``."""
    if not phone:
        return ""
    if len(phone) >= 11:
        return phone[:3] + "****" + phone[-4:]
    # a landline or a short number: showing 7 of 8 digits would hide nothing
    return "****" + phone[-2:] if len(phone) > 4 else "*" * len(phone)


def mask_text(text: str | None) -> str:
    """A free text (an address): its first three characters, then ``****``."""
    if not text:
        return ""
    return text[:3] + "****" if len(text) > 6 else "****"
