"""Headless-browser checks of the built site (opt-in: ``nox -s browser``; not collected by pytest).

Serves ``site/`` on 127.0.0.1 and drives Debian's ``/usr/bin/chromium`` through Playwright
(Playwright's own browser download is not used) to check, in en, zh and ru:

* chapter 07 renders its math with the bundled KaTeX (no raw ``\\(`` left on the page);
* no request leaves 127.0.0.1 (fonts, scripts, search: everything is shipped with the site);
* material's language selector leads to the same chapter in the other language;
* the search box finds the chapter from a Chinese and from a Russian word of its text.

Screenshots (light in every language, dark in English, and the search results) are written
to ``--out``. Prints PASS/FAIL per check; exits non-zero if any check fails::

    python tests/browser/check_site.py [--site site] [--out build/screenshots] [--port 0]
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CHAPTER = "07-autograd"
LANGS = {"en": "/", "zh": "/zh/", "ru": "/ru/"}
# Words to search for, and what a fallback word must look like when the preferred one is
# not (yet) on the page.
SEARCH_WORDS = {"zh": "计算图", "ru": "градиент"}
FALLBACK_WORD = {"zh": re.compile(r"^[\u4e00-\u9fff]{2,}$"), "ru": re.compile(r"^[А-Яа-яЁё]{5,}$")}
TIMEOUT_MS = 20_000
MAX_SHOT_HEIGHT = 8_000  # "full-page-ish": long chapters are cut here


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # the browser drops connections it no longer needs (navigation): not an error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(site: Path, port: int) -> ThreadingHTTPServer:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = QuietServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Report:
    def __init__(self) -> None:
        self.results: list[tuple[bool, str, str]] = []

    def check(self, name: str, fn: Callable[[], str]) -> bool:
        """Run ``fn``; it returns a detail string on success and raises on failure."""
        try:
            detail = fn() or ""
            ok = True
        except Exception as exc:  # any failure of a check is reported, never fatal
            ok = False
            detail = f"{type(exc).__name__}: {exc}".strip()
            if not isinstance(exc, AssertionError):
                detail += "\n" + "".join(traceback.format_exception(exc)[-3:])
        self.results.append((ok, name, detail))
        status = "PASS" if ok else "FAIL"
        print(f"{status}  {name}" + (f" — {detail}" if detail else ""), flush=True)
        return ok

    @property
    def failed(self) -> int:
        return sum(not ok for ok, _, _ in self.results)


class Traffic:
    """Every request and failed response of a browser context; foreign ones are aborted."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.foreign: list[str] = []
        self.broken: list[str] = []
        self.page_errors: list[str] = []
        self.sitemap_probes: set[str] = set()

    def local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.hostname == self.host

    def attach(self, context) -> None:
        def on_request(request) -> None:
            if not self.local(request.url):
                self.foreign.append(request.url)

        def on_response(response) -> None:
            if response.status < 400:
                return
            if response.status == 404 and urlsplit(response.url).path.endswith("/sitemap.xml"):
                # Material probes sitemap.xml beside each <link rel=alternate>; the i18n plugin
                # points those at pages, not language roots (mkdocs-material#6582). Harmless:
                # the selector's links already lead to the same page.
                self.sitemap_probes.add(urlsplit(response.url).path)
                return
            self.broken.append(f"{response.status} {response.url}")

        def route(route) -> None:
            if self.local(route.request.url):
                route.continue_()
            else:
                route.abort()

        context.on("request", on_request)
        context.on("response", on_response)
        context.route("**/*", route)
        context.on(
            "page", lambda page: page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        )


def path_of(url: str) -> str:
    return urlsplit(url).path


def screenshot(page, path: Path) -> str:
    height = page.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"]
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SHOT_HEIGHT)}
    page.screenshot(path=str(path), full_page=True, clip=clip)
    return str(path)


def check_math(page) -> str:
    page.wait_for_selector(".arithmatex", state="attached")
    try:
        page.wait_for_selector(".katex", state="attached", timeout=TIMEOUT_MS // 2)
    except Exception:
        pass  # reported below, with what the page shows instead
    state = page.evaluate(
        """() => {
        const raw = [], bare = [];
        const all = [...document.querySelectorAll('.arithmatex')];
        for (const el of all) {
            if (!el.querySelector('.katex')) bare.push(el.textContent.trim().slice(0, 60));
            const copy = el.cloneNode(true);
            copy.querySelectorAll('.katex').forEach(k => k.remove());
            if (/\\\\[(\\[]/.test(copy.textContent)) raw.push(copy.textContent.trim().slice(0, 60));
        }
        return {arithmatex: all.length, katex: document.querySelectorAll('.katex').length, raw, bare};
    }"""
    )
    assert state["katex"], (
        f"no .katex element: KaTeX did not run ({state['arithmatex']} .arithmatex)"
    )
    assert not state["raw"], f"raw TeX delimiters still shown: {state['raw'][:3]}"
    assert not state["bare"], f".arithmatex without KaTeX output: {state['bare'][:3]}"
    return f"{state['katex']} .katex for {state['arithmatex']} .arithmatex"


def check_page(report: Report, page, base: str, lang: str, out: Path, traffic: Traffic) -> None:
    url = urljoin(base, LANGS[lang] + CHAPTER + "/")
    before = len(traffic.foreign), len(traffic.broken), len(traffic.page_errors)

    def load() -> str:
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
        page.wait_for_load_state("networkidle")
        html_lang = page.get_attribute("html", "lang")
        assert html_lang == lang, f"<html lang={html_lang!r}>, expected {lang!r}"
        return url

    if not report.check(f"[{lang}] chapter 07 loads", load):
        return
    report.check(f"[{lang}] math rendered by KaTeX", lambda: check_math(page))
    report.check(f"[{lang}] screenshot", lambda: screenshot(page, out / f"{lang}-{CHAPTER}.png"))

    def offline() -> str:
        foreign = traffic.foreign[before[0] :]
        assert not foreign, f"requests left 127.0.0.1: {foreign[:5]}"
        return "every request went to 127.0.0.1"

    def intact() -> str:
        broken = traffic.broken[before[1] :]
        errors = traffic.page_errors[before[2] :]
        assert not broken, f"failed responses: {broken[:5]}"
        assert not errors, f"JavaScript errors: {errors[:3]}"
        return "no HTTP errors, no JavaScript errors"

    report.check(f"[{lang}] no request left 127.0.0.1", offline)
    report.check(f"[{lang}] no broken request or script error", intact)


def check_dark(page, base: str, out: Path) -> str:
    page.goto(urljoin(base, "/" + CHAPTER + "/"), wait_until="load")
    toggle = page.locator('form[data-md-component="palette"] label:not([hidden])').first
    how = "palette toggle"
    try:
        toggle.click(timeout=5_000)
        page.wait_for_selector('body[data-md-color-scheme="slate"]', timeout=5_000)
    except Exception:
        how = "prefers-color-scheme: dark"
        page.emulate_media(color_scheme="dark")
        page.evaluate("localStorage.clear()")
        page.reload(wait_until="load")
        page.wait_for_selector('body[data-md-color-scheme="slate"]', timeout=5_000)
    page.wait_for_load_state("networkidle")
    shot = screenshot(page, out / f"en-{CHAPTER}-dark.png")
    page.evaluate("localStorage.clear()")  # the next pages in light again
    page.emulate_media(color_scheme="light")
    return f"via {how}: {shot}"


def check_switch(page, base: str, lang: str) -> str:
    start = urljoin(base, "/" + CHAPTER + "/")
    page.goto(start, wait_until="load")
    page.locator(".md-select").first.hover()
    link = page.locator(f'.md-select a.md-select__link[hreflang="{lang}"]').first
    link.wait_for(state="visible")
    with page.expect_navigation(wait_until="load"):
        link.click()
    expected = LANGS[lang] + CHAPTER + "/"
    got = path_of(page.url)
    assert got == expected, f"selector led to {got}, expected {expected}"
    assert page.get_attribute("html", "lang") == lang, "page language did not change"
    return f"{path_of(start)} → {got}"


def _index_tokens(site: Path, lang: str) -> list[str]:
    """Words of the chapter as the search index holds them (after the build's segmentation)."""
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    separator = re.compile(index["config"]["separator"])
    prefix = LANGS[lang].lstrip("/") + CHAPTER + "/"
    words: list[str] = []
    for doc in index["docs"]:
        if doc["location"].split("#")[0] == prefix:
            text = html.unescape(re.sub(r"<[^>]+>", " ", doc["title"] + " " + doc["text"]))
            words += [w for w in separator.split(text) if w]
    return words


def choose_word(page, site: Path, lang: str) -> tuple[str, str]:
    """The preferred word if the chapter shows it, else a word of the chapter's own text."""
    shown = page.locator("article").first.inner_text().replace("\u200b", "")
    preferred = SEARCH_WORDS[lang]
    if preferred in shown:
        return preferred, "preferred word"
    source_file = ROOT / "docs" / lang / f"{CHAPTER}.md"
    source = source_file.read_text(encoding="utf-8") if source_file.exists() else ""
    candidates = sorted(
        {w for w in _index_tokens(site, lang) if FALLBACK_WORD[lang].match(w) and w in shown},
        key=lambda w: (w in source, len(w)),
        reverse=True,
    )
    assert candidates, f"{preferred!r} is not on the page and the chapter has no other {lang} word"
    word = candidates[0]
    where = "from the chapter's Markdown" if word in source else "from the page (not its Markdown)"
    return word, f"fallback, {preferred!r} not on the page yet; word {where}"


def check_search(page, base: str, site: Path, lang: str, out: Path) -> str:
    url = urljoin(base, LANGS[lang] + CHAPTER + "/")
    page.goto(url, wait_until="load")
    word, why = choose_word(page, site, lang)
    search_input = page.locator(".md-search__input")
    if not search_input.is_visible():
        page.locator('label.md-search__icon, label[for="__search"]').first.click()
    hrefs: list[str] = []
    for _attempt in range(3):  # the index loads in a web worker; retype if it was not ready
        search_input.click()
        search_input.fill(word)
        # Material reads the query on keyup; text that is not on a US keyboard (Chinese,
        # Cyrillic) is inserted by Playwright without key events, as an IME would, so a
        # real key press has to follow.
        search_input.press("End")
        try:
            page.wait_for_selector(".md-search-result__item", timeout=TIMEOUT_MS // 2)
        except Exception:
            continue
        page.wait_for_timeout(300)  # let the list settle
        hrefs = page.eval_on_selector_all(
            ".md-search-result__item a[href]", "els => els.map(a => a.href)"
        )
        if hrefs:
            break
    screenshot(page, out / f"{lang}-search.png")
    assert hrefs, f"no search result for {word!r} ({why})"
    target = LANGS[lang] + CHAPTER + "/"
    paths = [path_of(urljoin(page.url, h)) for h in hrefs]
    assert target in paths, f"no result for {word!r} links to {target}: {sorted(set(paths))[:6]}"
    return f"{word!r} ({why}) → {target} among {len(hrefs)} result links"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--site", type=Path, default=ROOT / "site", help="built site (default site/)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "screenshots", help="where screenshots go"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to serve on (default: a free one)"
    )
    args = parser.parse_args(argv)

    site = args.site.resolve()
    if not (site / "index.html").exists():
        print(f"FAIL  no built site at {site} (run: mkdocs build)")
        return 2
    if not Path(CHROMIUM).exists():
        print(f"FAIL  {CHROMIUM} is missing (apt-get install -y chromium fonts-noto-cjk)")
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    port = args.port or free_port()
    server = serve(site, port)
    base = f"http://127.0.0.1:{port}/"
    print(f"serving {site} at {base}; screenshots in {out}", flush=True)
    report = Report()
    traffic = Traffic("127.0.0.1")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(
                viewport={"width": 1280, "height": 900},
                color_scheme="light",
                service_workers="block",
            )
            context.set_default_timeout(TIMEOUT_MS)
            traffic.attach(context)
            page = context.new_page()
            for lang in LANGS:
                check_page(report, page, base, lang, out, traffic)
            report.check("[en] dark-mode screenshot", lambda: check_dark(page, base, out))
            for lang in ("zh", "ru"):
                report.check(
                    f"[en→{lang}] language selector keeps the chapter",
                    functools.partial(check_switch, page, base, lang),
                )
            for lang in ("zh", "ru"):
                report.check(
                    f"[{lang}] search finds chapter 07",
                    functools.partial(check_search, page, base, site, lang, out),
                )

            def whole_run_offline() -> str:
                assert not traffic.foreign, f"requests left 127.0.0.1: {traffic.foreign[:5]}"
                return "no foreign host during the whole run (language switch and search included)"

            report.check("[all] no request left 127.0.0.1", whole_run_offline)
            context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    if traffic.sitemap_probes:
        print(
            f"NOTE  ignored {len(traffic.sitemap_probes)} 404s of Material's sitemap.xml probes "
            f"beside per-page alternate links (mkdocs-material#6582): "
            + ", ".join(sorted(traffic.sitemap_probes))
        )
    total = len(report.results)
    print(
        f"\n{total - report.failed}/{total} checks passed; screenshots: "
        + ", ".join(sorted(p.name for p in out.glob("*.png")))
    )
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
