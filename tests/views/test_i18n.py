"""The catalogs: every user-facing string of the pages is translated into Japanese, and each
translation keeps the placeholders of its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.i18n import LOCALES_DIR, L10n, catalog_files, negotiate, translations

ROOT = Path(__file__).resolve().parent.parent.parent
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
METHODS = [("app/views/**.py", "python"), ("app/views/templates/**.html", "jinja2")]
OPTIONS = {"app/views/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _extracted() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), METHODS, OPTIONS, KEYWORDS):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def _catalog(language: str) -> dict[object, object]:
    merged: dict[object, object] = {}
    for path in catalog_files(LOCALES_DIR / language / "LC_MESSAGES"):
        with path.open("rb") as handle:
            for message in read_po(handle):
                if message.id:
                    assert message.id not in merged, f"{path.name}: {message.id!r} is in two catalogs"
                    merged[message.id] = message.string
    return merged


def test_every_page_string_is_in_both_catalogs() -> None:
    extracted = _extracted()
    assert len(extracted) > 200

    for language in ("ja", "en"):
        missing = extracted - set(_catalog(language))
        assert missing == set(), f"{language}: run pybabel update and translate {sorted(map(str, missing))}"


def test_japanese_is_complete_and_keeps_placeholders() -> None:
    for source, translated in _catalog("ja").items():
        texts = [translated] if isinstance(translated, str) else list(translated)  # type: ignore[arg-type]
        assert all(texts), f"untranslated: {source!r}"
        sources = [source] if isinstance(source, str) else list(source)  # type: ignore[arg-type]
        wanted = set(PLACEHOLDER.findall(sources[-1]))
        for text in texts:
            assert set(PLACEHOLDER.findall(text)) == wanted, source


def test_translation_in_use() -> None:
    ja = L10n("ja", __import__("zoneinfo").ZoneInfo("Asia/Tokyo"))

    assert ja.gettext("Portfolio") == "ポートフォリオ"
    assert ja.gettext("Changed by %(who)s meanwhile — reload to see their version before editing.",
                      who="<b>") .startswith("その間に <b> さん")
    assert str(ja.template_gettext("by %(author)s", author="<b>")) == "記録者: &lt;b&gt;"
    assert ja.ngettext("%(num)s account", "%(num)s accounts", 3) == "3 社"
    assert translations("en").ugettext("mid_market") == "mid-market"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "ja"), ("", "ja"), ("en-US,en;q=0.9", "en"), ("fr-FR, en;q=0.5, ja;q=0.8", "ja"),
        ("de", "ja"), ("en;q=0, ja;q=0.1", "ja"), ("EN", "en"), ("ja;q=abc, en", "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert negotiate(header) == language
