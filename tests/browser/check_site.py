"""Headless-browser checks of the built site (opt-in: ``nox -s browser``; not collected by pytest).

Serves ``site/`` on 127.0.0.1 and drives Debian's ``/usr/bin/chromium`` through Playwright
(Playwright's own browser download is not used) to check, in en, zh and ru:

* every page (all pages × 3 languages): math typeset in the HTML itself (KaTeX markup for
  every formula as soon as the DOM is parsed, no raw TeX in the text), no console error, no
  failed request (the sitemap probes of Material's language selector included);
* how long until the math of chapter 07 is on screen (a MutationObserver started before the
  page's first byte), and that display formulas have no blank band and scroll in their own box
  when wider than the column (ru chapter 14, desktop and phone);
* search per language, with inflected words («градиенты», "normalization", 注意力…): results
  only in the page's language, readable excerpts (no TeX, no zero-width space, no ¶), and the
  bytes of index a search fetches;
* no request leaves 127.0.0.1; the language selector leads to the same chapter;
* search on a phone.

Screenshots go to ``--out``: chapter 07 per language on a desktop (1280×900) and a phone
(390×844), a dark one, search results. ``--gallery DIR`` also writes the desktop and phone
shots of chapter 07, downscaled PNGs, to ``DIR`` (the README's ``.github/screenshots``).
Prints PASS/FAIL per check; exits non-zero if any check fails::

    python tests/browser/check_site.py [--site site] [--out build/screenshots] [--gallery DIR]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
WIDE_MATH = ("ru", "14-pretraining")  # §14.4 has formulas wider than a phone (and than the column)
LANGS = {"en": "/", "zh": "/zh/", "ru": "/ru/"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# (language, query, a page it must find or None): inflected forms, not the stems the index holds
SEARCHES = [
    ("ru", "градиенты", "07-autograd"),
    ("ru", "внимание", "12-attention"),
    ("ru", "обучение", None),
    ("ru", "нормализация", "13-gpt"),
    ("ru", "Перплексия", "14-pretraining"),
    ("en", "perplexity", "14-pretraining"),
    ("en", "normalization", "13-gpt"),
    ("zh", "注意力", "12-attention"),
    ("zh", "梯度", None),
    ("zh", "计算图", "07-autograd"),
]
MERGED_INDEX_BYTES = 6_970_000  # Material's one search_index.json for all languages, before
TIMEOUT_MS = 20_000
MAX_BLANK_PX = 16  # space a display formula may add above plus below its own glyphs
# TeX a reader must never see: delimiters, and a command with a brace or a script
RAW_TEX = re.compile(r"\\[(\[]|\$\$|\\[a-zA-Z]+\{|\$[^$\n]{1,80}[\\^_][^$\n]{0,80}\$")

# Records, from before the first byte of each page, when the first KaTeX formula enters the DOM.
MATH_CLOCK = """
window.__mathAt = null;
new MutationObserver((records, observer) => {
  if (document.querySelector('.katex')) { window.__mathAt = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""
# What the article shows: formulas typeset or not, raw TeX in its text (code excluded).
MATH_STATE = """(rawPattern) => {
  const article = document.querySelector('article') || document.body;
  const all = [...article.querySelectorAll('.arithmatex')];
  const bare = all.filter(el => !el.querySelector('.katex')).map(el => el.textContent.trim().slice(0, 60));
  const copy = article.cloneNode(true);
  copy.querySelectorAll('pre, code, .katex, script, style, .highlight').forEach(el => el.remove());
  const raw = (copy.textContent.match(new RegExp(rawPattern, 'g')) || []).slice(0, 3);
  return {arithmatex: all.length, katex: article.querySelectorAll('.katex').length, bare, raw};
}"""


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the site under ``prefix`` (site_url's path), as GitHub Pages does; 404 elsewhere."""

    prefix = "/"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "404-outside-site_url")
        return super().translate_path("/" + path[len(self.prefix) :])


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # the browser drops connections it no longer needs (navigation): not an error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def site_path() -> str:
    """The path of mkdocs.yml's site_url (``/llm-anatomy/``): where the site is served."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    match = re.search(r"^site_url:\s*(\S+)", config, re.M)
    path = urlsplit(match.group(1)).path if match else "/"
    return path if path.endswith("/") else path + "/"


def serve(site: Path, port: int, prefix: str) -> ThreadingHTTPServer:
    handler = functools.partial(type("Handler", (QuietHandler,), {"prefix": prefix}), directory=str(site))
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
    """Every request, failed response and console error of a context; foreign hosts are aborted."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.foreign: list[str] = []
        self.broken: list[str] = []
        self.console_errors: list[str] = []
        self.fetched: list[str] = []  # local paths, in order

    def local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.hostname == self.host

    def mark(self) -> tuple[int, int, int, int]:
        return len(self.foreign), len(self.broken), len(self.console_errors), len(self.fetched)

    def attach(self, context) -> None:
        def on_request(request) -> None:
            if not self.local(request.url):
                self.foreign.append(request.url)
            else:
                self.fetched.append(unquote(path_of(request.url)))

        def on_response(response) -> None:
            if response.status >= 400:
                self.broken.append(f"{response.status} {urlsplit(response.url).path}")  # as requested

        def route(route) -> None:
            if self.local(route.request.url):
                route.continue_()
            else:
                route.abort()

        def on_page(page) -> None:
            page.on("pageerror", lambda e: self.console_errors.append(f"{page.url}: {e}"))
            page.on(
                "console",
                lambda m: m.type == "error" and self.console_errors.append(f"{page.url}: {m.text}"),
            )

        context.on("request", on_request)
        context.on("response", on_response)
        context.route("**/*", route)
        context.on("page", on_page)


PREFIX = "/"  # site_url's path, set in main()


def path_of(url: str) -> str:
    """A URL's path inside the site (``/zh/07-autograd/``), without site_url's path."""
    path = urlsplit(url).path
    return "/" + path[len(PREFIX) :] if path.startswith(PREFIX) else path


def urljoin(base: str, path: str) -> str:
    """The URL of a path inside the site (``/zh/…``) on the server at ``base``."""
    return base.rstrip("/") + PREFIX + path.lstrip("/")


def site_pages(site: Path) -> dict[str, list[str]]:
    """Every page of the built site (its URL path), by language."""
    pages: dict[str, list[str]] = {lang: [] for lang in LANGS}
    skip = {"assets", "pagefind", "search"}
    for index in sorted(site.rglob("index.html")):
        rel = index.parent.relative_to(site).as_posix()
        if rel.split("/")[0] in skip:
            continue
        url = "/" if rel == "." else f"/{rel}/"
        lang = next((code for code, prefix in LANGS.items() if prefix != "/" and url.startswith(prefix)), "en")
        pages[lang].append(url)
    return pages


def screenshot(page, path: Path) -> str:
    page.screenshot(path=str(path))
    return str(path)


def check_pages(page, base: str, lang: str, urls: list[str], traffic: Traffic) -> str:
    """Math typeset at DOM-parse time and no console error, on every page of a language."""
    problems: list[str] = []
    formulas = 0
    for url in urls:
        before = traffic.mark()
        response = page.goto(urljoin(base, url), wait_until="domcontentloaded")
        if response is None or not response.ok:
            problems.append(f"{url}: HTTP {response and response.status}")
            continue
        state = page.evaluate(MATH_STATE, RAW_TEX.pattern)  # before any script could typeset
        page.wait_for_load_state("networkidle")
        formulas += state["katex"]
        if page.get_attribute("html", "lang") != lang:
            problems.append(f"{url}: <html lang={page.get_attribute('html', 'lang')!r}>")
        if state["bare"]:
            problems.append(f"{url}: formulas without KaTeX markup {state['bare'][:2]}")
        if state["raw"]:
            problems.append(f"{url}: raw TeX shown {state['raw']}")
        errors = traffic.console_errors[before[2] :] + traffic.broken[before[1] :]
        if errors:
            problems.append(f"{url}: {errors[:3]}")
    assert not problems, f"{len(problems)} problem(s): " + " | ".join(problems[:8])
    return f"{len(urls)} pages, {formulas} formulas typeset in the HTML, 0 console errors, 0 failed requests"


def check_math_timing(page, base: str, lang: str) -> str:
    page.goto(urljoin(base, LANGS[lang] + CHAPTER + "/"), wait_until="load")
    timing = page.evaluate(
        """async () => {
        await document.fonts.ready;
        const nav = performance.getEntriesByType('navigation')[0];
        return {mathAt: window.__mathAt, responseEnd: nav.responseEnd,
                domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                fontsReady: performance.now(),
                katexFont: document.fonts.check('16px KaTeX_Main')};
    }"""
    )
    assert timing["mathAt"] is not None, "no .katex element ever entered the DOM"
    assert timing["mathAt"] <= timing["domContentLoaded"] + 1, (
        f"math appeared after the DOM was parsed: {timing}"
    )
    assert timing["katexFont"], "KaTeX's font did not load"
    return (
        f"first formula in the DOM {timing['mathAt']:.0f} ms after navigation start "
        f"({timing['mathAt'] - timing['responseEnd']:.0f} ms after the last byte of HTML, "
        f"DOMContentLoaded {timing['domContentLoaded']:.0f} ms, load {timing['load']:.0f} ms)"
    )


def check_display_math(page, base: str, lang: str, name: str, viewport: dict) -> str:
    """No blank band around display formulas; a wide one scrolls inside its own box."""
    page.set_viewport_size(viewport)
    page.goto(urljoin(base, LANGS[lang] + name + "/"), wait_until="load")
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('article div.arithmatex')].map(el => {
        const box = el.getBoundingClientRect(), glyphs = el.querySelector('.katex-html').getBoundingClientRect();
        const style = getComputedStyle(el), prev = el.previousElementSibling, next = el.nextElementSibling;
        const gapAbove = prev ? box.top - prev.getBoundingClientRect().bottom : 0;
        const gapBelow = next ? next.getBoundingClientRect().top - box.bottom : 0;
        return {tex: (el.querySelector('annotation') || el).textContent.slice(0, 40),
                blank: (box.height - glyphs.height), gapAbove, gapBelow,
                wide: el.scrollWidth > el.clientWidth + 1, overflow: style.overflowX,
                right: box.right, viewport: document.documentElement.clientWidth};
    })"""
    )
    assert boxes, f"no display formula on {lang}/{name}"
    blank = [b for b in boxes if b["blank"] > MAX_BLANK_PX]
    assert not blank, f"blank space inside display formulas: {[(b['tex'], round(b['blank'])) for b in blank[:3]]}"
    cut = [b for b in boxes if b["right"] > b["viewport"] + 1 or (b["wide"] and b["overflow"] not in ("auto", "scroll"))]
    assert not cut, f"formulas cut off: {[(b['tex'], b['overflow'], round(b['right'])) for b in cut[:3]]}"
    wide = sum(b["wide"] for b in boxes)
    largest = max(max(b["gapAbove"], b["gapBelow"]) for b in boxes)
    return (
        f"{len(boxes)} display formulas at {viewport['width']} px: at most "
        f"{max(b['blank'] for b in boxes):.0f} px beyond the glyphs, gaps to the text ≤ {largest:.0f} px, "
        f"{wide} wider than the column scroll in their own box"
    )


def chapter_shots(page, base: str, lang: str, out: Path, gallery: Path | None) -> str:
    """Chapter 07 on a desktop and a phone, scrolled to its first display formula."""
    shots = []
    for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(urljoin(base, LANGS[lang] + CHAPTER + "/"), wait_until="load")
        page.evaluate(
            """() => { const el = document.querySelector('article div.arithmatex');
            if (el) window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 240); }"""
        )
        page.wait_for_timeout(200)
        path = out / f"{lang}-{CHAPTER}-{device}.png"
        screenshot(page, path)
        shots.append(path.name)
        if gallery is not None:
            from PIL import Image

            suffix = "" if device == "desktop" else "-phone"
            target = gallery / f"chapter-07-{lang}{suffix}.png"
            with Image.open(path) as image:
                if device == "desktop":
                    image = image.resize((960, 675), Image.LANCZOS)
                image.convert("RGB").quantize(colors=256).save(target, optimize=True)
            shots.append(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} "
                         f"({target.stat().st_size // 1024} KB)")
    page.set_viewport_size(DESKTOP)
    return ", ".join(shots)


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


def in_language(path: str, lang: str) -> bool:
    if lang == "en":
        return not any(path.startswith(p) for code, p in LANGS.items() if code != "en")
    return path.startswith(LANGS[lang])


def search(page, query: str) -> list[dict]:
    """Type ``query`` into the search dialog; the results Pagefind's UI lists."""
    button = page.locator('label.md-header__button[for="__search"]').first
    if button.is_visible():  # phone: the dialog opens from the header's button
        button.click()
    box = page.locator(".pagefind-ui__search-input")
    box.wait_for(state="visible")
    box.click()
    box.fill(query)
    page.wait_for_selector(".pagefind-ui__result-link", timeout=TIMEOUT_MS)
    more = page.locator(".pagefind-ui__button")  # "load more results": list every result
    for _ in range(10):
        page.wait_for_function("!document.querySelector('.pagefind-ui__result .pagefind-ui__loading')")
        if not more.is_visible():
            break
        more.evaluate("button => button.click()")  # it may sit below the panel's scroll edge
    page.wait_for_timeout(300)  # let the list settle
    return page.eval_on_selector_all(
        ".pagefind-ui__result:has(.pagefind-ui__result-link)",
        """els => els.map(el => ({
            href: el.querySelector('.pagefind-ui__result-link').href,
            title: el.querySelector('.pagefind-ui__result-link').textContent,
            excerpt: el.querySelector('.pagefind-ui__result-excerpt').textContent}))""",
    )


def check_search(page, base: str, lang: str, query: str, target: str | None, out: Path) -> str:
    page.goto(urljoin(base, LANGS[lang] + CHAPTER + "/"), wait_until="load")
    results = search(page, query)
    screenshot(page, out / f"{lang}-search-{query}.png")
    assert results, f"no result for {query!r}"
    paths = [path_of(r["href"]) for r in results]
    foreign = [p for p in paths if not in_language(p, lang)]
    assert not foreign, f"results in another language: {foreign[:3]}"
    if target is not None:
        expected = LANGS[lang] + target + "/"
        assert expected in paths, f"{query!r} does not list {expected}: {paths}"
    text = " ".join(r["title"] + " " + r["excerpt"] for r in results)
    assert "\u200b" not in text, "zero-width space in titles or excerpts"
    assert "¶" not in text, f"¶ in titles or excerpts: {[r['title'] for r in results if '¶' in r['title']]}"
    tex = RAW_TEX.findall(text)
    assert not tex, f"raw TeX in excerpts: {tex[:3]}"
    top = results[0]
    return f"{len(results)} results, all {lang}; 1st {path_of(top['href'])} «{top['title'].strip()}»: {top['excerpt'].strip()[:90]}…"


def check_index_size(browser, base: str, site: Path, lang: str) -> str:
    """Bytes of search files a page of ``lang`` fetches for a query (fresh context: no cache)."""
    context = browser.new_context(viewport=DESKTOP, service_workers="block")
    traffic = Traffic("127.0.0.1")
    traffic.attach(context)
    try:
        page = context.new_page()
        page.goto(urljoin(base, LANGS[lang] + CHAPTER + "/"), wait_until="load")
        search(page, dict((lg, q) for lg, q, _ in SEARCHES)[lang])
        # the UI's script and style load with the page; the rest when the reader types
        files = sorted({p for p in traffic.fetched if p.startswith("/pagefind/")})
    finally:
        context.close()
    assert files, "the search fetched no Pagefind file"
    sizes = [(site / p.lstrip("/")).read_bytes() for p in files]
    raw = sum(len(b) for b in sizes)
    zipped = sum(len(gzip.compress(b, 9)) for b in sizes)
    index = [p for p in files if re.search(r"\.pf_(meta|index|fragment)$", p)]
    index_raw = sum(len((site / p.lstrip("/")).read_bytes()) for p in index)
    assert raw < MERGED_INDEX_BYTES / 10, f"search fetched {raw} bytes"
    return (
        f"{len(files)} files, {raw / 1024:.0f} KB as served ({zipped / 1024:.0f} KB gzipped), of which "
        f"index data {index_raw / 1024:.0f} KB (pf_meta/pf_index/pf_fragment, stored gzipped); "
        f"the merged search_index.json was {MERGED_INDEX_BYTES / 1e6:.2f} MB"
    )


def check_phone_search(browser, base: str, traffic: Traffic, out: Path) -> str:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="light",
                                  service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    traffic.attach(context)
    try:
        page = context.new_page()
        page.goto(urljoin(base, LANGS["ru"] + CHAPTER + "/"), wait_until="load")
        results = search(page, "Перплексия")
        screenshot(page, out / "ru-search-phone.png")
        link = page.locator(".pagefind-ui__result-link").first
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, f"result off screen: {box}"
        with page.expect_navigation(wait_until="load"):
            link.tap()
        landed = path_of(page.url)
        assert landed.startswith("/ru/"), f"tapping a result led to {landed}"
        return f"{len(results)} results on a 390 px phone; tapping the first opened {landed}"
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="built site (default site/)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "screenshots", help="where screenshots go"
    )
    parser.add_argument("--gallery", type=Path, default=None,
                        help="also write the README's chapter screenshots here (.github/screenshots)")
    parser.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
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
    gallery = args.gallery.resolve() if args.gallery else None
    if gallery:
        gallery.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    global PREFIX
    PREFIX = site_path()
    port = args.port or free_port()
    server = serve(site, port, PREFIX)
    base = f"http://127.0.0.1:{port}"
    print(f"serving {site} at {base}{PREFIX}; screenshots in {out}", flush=True)
    report = Report()
    traffic = Traffic("127.0.0.1")
    pages = site_pages(site)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=DESKTOP, color_scheme="light", service_workers="block")
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(MATH_CLOCK)
            traffic.attach(context)
            page = context.new_page()
            for lang in LANGS:
                report.check(
                    f"[{lang}] every page: math in the HTML, no raw TeX, no console error",
                    functools.partial(check_pages, page, base, lang, pages[lang], traffic),
                )
            for lang in LANGS:
                report.check(f"[{lang}] time until chapter 07's math is shown",
                             functools.partial(check_math_timing, page, base, lang))
            for viewport in (DESKTOP, PHONE):
                report.check(
                    f"[{WIDE_MATH[0]}] chapter 14 display formulas at {viewport['width']} px",
                    functools.partial(check_display_math, page, base, *WIDE_MATH, viewport),
                )
            for lang in LANGS:
                report.check(f"[{lang}] chapter 07 screenshots (desktop, phone)",
                             functools.partial(chapter_shots, page, base, lang, out, gallery))
            report.check("[en] dark-mode screenshot", lambda: check_dark(page, base, out))
            for lang in ("zh", "ru"):
                report.check(
                    f"[en→{lang}] language selector keeps the chapter",
                    functools.partial(check_switch, page, base, lang),
                )
            for lang, query, target in SEARCHES:
                report.check(
                    f"[{lang}] search {query!r}" + (f" finds {target}" if target else ""),
                    functools.partial(check_search, page, base, lang, query, target, out),
                )
            for lang in LANGS:
                report.check(f"[{lang}] search index a page fetches",
                             functools.partial(check_index_size, browser, base, site, lang))
            report.check("[ru] search on a phone", lambda: check_phone_search(browser, base, traffic, out))

            def whole_run_clean() -> str:
                assert not traffic.foreign, f"requests left 127.0.0.1: {traffic.foreign[:5]}"
                assert not traffic.broken, f"failed requests: {traffic.broken[:5]}"
                assert not traffic.console_errors, f"console errors: {traffic.console_errors[:5]}"
                return (f"{len(traffic.fetched)} requests, none to another host, 0 failed, "
                        "0 console errors during the whole run (search and language switch included)")

            report.check("[all] no foreign request, failed request or console error", whole_run_clean)
            context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    total = len(report.results)
    print(
        f"\n{total - report.failed}/{total} checks passed; screenshots: "
        + ", ".join(sorted(p.name for p in out.glob("*.png")))
    )
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
