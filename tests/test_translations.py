"""Every page exists in every language, with the same code, and knows which English it follows."""

from __future__ import annotations

import pytest

from llm_anatomy_book.blocks import DOCS, LANGUAGES, site_config
from llm_anatomy_book.translations import (
    MISSING,
    STALE,
    UNSTAMPED,
    code_of,
    english_pages,
    format_status,
    status,
)

TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def _nav_items(nav, prefix=()):
    for entry in nav:
        for label, target in entry.items():
            if isinstance(target, list):
                yield label, None
                yield from _nav_items(target)
            else:
                yield label, target


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize("name", english_pages())
def test_code_identical_to_english(name: str, lang: str) -> None:
    page = DOCS / lang / name
    if not page.exists():
        pytest.fail(f"docs/{lang}/{name} is missing: every page exists in every language")
    english, translated = code_of(DOCS / "en" / name), code_of(page)
    assert len(translated) == len(english), f"docs/{lang}/{name} has {len(translated)} code blocks, English has {len(english)}"
    for i, (a, b) in enumerate(zip(english, translated, strict=True)):
        assert a == b, f"code block {i + 1} of docs/{lang}/{name} differs from English"


def test_no_page_only_in_a_translation() -> None:
    pages = set(english_pages())
    for lang in TRANSLATED:
        extra = {p.relative_to(DOCS / lang).as_posix() for p in (DOCS / lang).rglob("*") if p.suffix in (".md", ".ipynb")} - pages
        assert not extra, f"pages in docs/{lang} without an English source: {sorted(extra)}"


def test_every_translation_exists_and_is_stamped() -> None:
    rows = status()
    bad = [r for r in rows if r.state in (MISSING, UNSTAMPED)]
    assert not bad, "translations missing or without source_sha:\n" + format_status(rows)


def test_no_translation_is_stale() -> None:
    # A translation whose English changed since it was stamped fails: catch up, then stamp it
    # (python -m llm_anatomy_book stamp docs/zh/NN-x.md docs/ru/NN-x.md).
    rows = status()
    stale = [f"docs/{r.lang}/{r.name}" for r in rows if r.state == STALE]
    assert not stale, "translations behind their English page: " + ", ".join(stale) + "\n" + format_status(rows)


def test_nav_lists_every_page_and_is_translated() -> None:
    config = site_config()
    items = list(_nav_items(config["nav"]))
    targets = {t for _, t in items if t}
    assert targets == set(english_pages()), "the nav and docs/en must list the same pages"
    for language in config["plugins"]["i18n"].config.languages:
        if language.locale == "en":
            continue
        translations = dict(language.nav_translations or {})
        untranslated = [label for label, _ in items if label not in translations]
        assert not untranslated, f"nav labels without a {language.locale} translation: {untranslated}"
        assert language.site_name, f"no {language.locale} site_name"


def test_status_reports_a_stale_page(tmp_path, monkeypatch) -> None:
    # A translation whose English changed afterwards is reported stale, not up to date.
    from llm_anatomy_book import translations

    (tmp_path / "en").mkdir()
    (tmp_path / "zh").mkdir()
    (tmp_path / "en" / "01-x.md").write_text("# One\n", encoding="utf-8")
    (tmp_path / "zh" / "01-x.md").write_text("# 一\n", encoding="utf-8")
    monkeypatch.setattr(translations, "DOCS", tmp_path)
    translations.stamp(tmp_path / "zh" / "01-x.md")
    assert [r.state for r in translations.status(("zh",))] == ["up to date"]
    (tmp_path / "en" / "01-x.md").write_text("# One, revised\n", encoding="utf-8")
    assert [r.state for r in translations.status(("zh",))] == ["stale"]
    assert [r.state for r in translations.status(("ru",))] == ["missing"]
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        translations.status(("fr",))
