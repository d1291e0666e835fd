"""Languages, translations and locale-aware formatting for the pages.

The catalogs are the gettext ``.po`` files under ``app/locales``; they are compiled in memory when
first used (no build step, so a fresh checkout runs as it is). Each request renders with an
``L10n``: its gettext functions and Babel formatters for dates, numbers and money in the reader's
language and time zone.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from markupsafe import Markup, escape

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
#: Each language's name in itself, for the language switch.
LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of a language: every ``.po`` file of its directory, ``messages.po``
    first, then the others (one per area of the app) by name."""
    directory = LOCALES_DIR / language / "LC_MESSAGES"
    merged: Translations | None = None
    for path in catalog_files(directory):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        compiled = Translations(buffer)
        # The first catalog (messages.po) also brings the language's plural rule.
        merged = compiled if merged is None else merged.merge(compiled)
    return merged if merged is not None else Translations()


@cache
def message_ids() -> frozenset[str]:
    """Every message id of the catalogs (a plural message by its singular)."""
    ids: set[str] = set()
    for language in LANGUAGES:
        for path in catalog_files(LOCALES_DIR / language / "LC_MESSAGES"):
            with path.open("rb") as handle:
                for message in read_po(handle, locale=language):
                    ids.add(message.id if isinstance(message.id, str) else message.id[0])
    ids.discard("")
    return frozenset(ids)


def catalog_files(directory: Path) -> list[Path]:
    """The ``.po`` files of a language directory, ``messages.po`` first."""
    return sorted(directory.glob("*.po"), key=lambda path: (path.name != "messages.po", path.name))


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an ``Accept-Language`` header (by its q-values)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, index, primary))
    return sorted(choices)[0][2] if choices else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class L10n:
    """One reader's language and time zone: translations and formatters for the templates."""

    language: str
    tz: ZoneInfo

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    def gettext(self, message: str, **variables: Any) -> str:
        text = translations(self.language).ugettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = translations(self.language).ungettext(singular, plural, n)
        variables.setdefault("num", n)
        return text % variables

    # -- the gettext functions the templates call (autoescaped like Jinja's newstyle gettext) --

    # A message id from our catalogs is trusted like the templates, so its translation is marked
    # safe and only the variables are escaped (by Markup's ``%``). Anything else handed in as a
    # message id is escaped whole: templates pass only literals (a test reads every template to
    # hold them to it), and this keeps a slip from turning stored text into markup.

    def template_gettext(self, message: str, **variables: Any) -> Markup:
        text = self._trusted(message, translations(self.language).ugettext(message))
        return text % variables if variables else text

    def template_ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> Markup:
        text = self._trusted(singular, translations(self.language).ungettext(singular, plural, n))
        variables.setdefault("num", n)
        return text % variables

    @staticmethod
    def _trusted(message: str, translated: str) -> Markup:
        if message in message_ids():
            return Markup(translated)  # noqa: S704  (a catalog string, see above)
        return escape(message)

    def label(self, value: str, **variables: Any) -> str:
        """The words for a stored code or a message id held in a variable (``retail``, a band,
        a status): its translation when the catalogs know it, else ``value`` as it is. Plain
        text either way, which the templates escape like any other value."""
        return self.gettext(value, **variables) if value in message_ids() else value

    # -- formatting --

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    def today(self, now: dt.datetime) -> dt.date:
        return now.astimezone(self.tz).date()

    def date(self, value: dt.date | dt.datetime | None, fmt: str = "medium") -> str:
        if value is None:
            return "—"
        if isinstance(value, dt.datetime):
            value = self.local(value).date()
        return _format_date(self.language, value, fmt)

    def datetime(self, value: dt.datetime | None, fmt: str = "medium") -> str:
        if value is None:
            return "—"
        return dates.format_datetime(value, format=fmt, tzinfo=self.tz, locale=self.locale)

    def short_datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return "—"
        local = self.local(value)
        return f"{_format_date(self.language, local.date(), 'medium')} {local:%H:%M}"

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return _format_number(self.language, value, digits)

    def decimal(self, value: float | int | Decimal | None) -> str:
        if value is None:
            return "—"
        return numbers.format_decimal(value, locale=self.locale)

    def currency(self, value: Decimal | float | int | None, currency: str = "JPY") -> str:
        if value is None:
            return "—"
        return _format_currency(self.language, value, currency)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "—"
        return numbers.format_percent(value, locale=self.locale)

    def days_between(self, start: dt.date | None, end: dt.date) -> int | None:
        return None if start is None else (end - start).days


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


# Babel parses and applies a pattern per call (~50 µs); a portfolio of 300 accounts formats the
# same few hundred dates and amounts on every request, so the results are cached.


@lru_cache(maxsize=8192)
def _format_date(language: str, value: dt.date, fmt: str) -> str:
    return dates.format_date(value, format=fmt, locale=_locale(language))


@lru_cache(maxsize=8192)
def _format_number(language: str, value: float | int | Decimal, digits: int) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, format=pattern, locale=_locale(language))


@lru_cache(maxsize=8192)
def _format_currency(language: str, value: Decimal | float | int, currency: str) -> str:
    return numbers.format_currency(value, currency, locale=_locale(language))
