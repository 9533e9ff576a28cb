"""A ``sitemap.xml`` in every page's folder, so Material's language selector finds one.

Material's selector fetches ``sitemap.xml`` beside every ``<link rel="alternate">`` of a page,
to map the page to its translation; mkdocs-static-i18n points those links at the translated
pages (``/zh/07-autograd/``), not at language roots, so every page logged three 404s in the
console. Each page folder gets the sitemap of its own scope (the sitemap protocol lets a
sitemap list only URLs under its folder): the entries of the site's ``sitemap.xml``, with
their ``hreflang`` alternates, whose address starts with the folder's address. A language
root (``/zh/``) so lists that language's pages; a chapter's folder lists the chapter.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"


class SitemapError(RuntimeError):
    """The site's sitemap is missing or lists nothing."""


def write_scoped_sitemaps(site_dir: str | Path) -> int:
    """Write ``sitemap.xml`` into every folder of ``site_dir`` that holds a page.

    Args:
        site_dir: the built site, with the ``sitemap.xml`` mkdocs wrote at its root.

    Returns:
        How many sitemaps were written.

    Raises:
        SitemapError: the root sitemap is missing or lists no page.
    """
    site = Path(site_dir).resolve()
    root = site / "sitemap.xml"
    if not root.is_file():
        raise SitemapError(f"no sitemap.xml at the root of {site}")
    ET.register_namespace("", SITEMAP_NS)
    ET.register_namespace("xhtml", XHTML_NS)
    urls = ET.parse(root).getroot().findall(f"{{{SITEMAP_NS}}}url")
    entries = [(urlsplit(u.findtext(f"{{{SITEMAP_NS}}}loc", "").strip()).path, u) for u in urls]
    if not entries:
        raise SitemapError(f"{root} lists no page")
    # the home page's address is the site's own (the shortest one)
    home = min(entries, key=lambda e: len(e[0]))[1].findtext(f"{{{SITEMAP_NS}}}loc", "").strip()
    site_path = urlsplit(home).path
    written = 0
    for page in sorted(site.rglob("index.html")):
        folder = page.parent
        if folder == site:
            continue  # mkdocs' own sitemap
        scope = site_path + folder.relative_to(site).as_posix() + "/"
        urlset = ET.Element(f"{{{SITEMAP_NS}}}urlset")
        urlset.extend(u for path, u in entries if path.startswith(scope))
        if not len(urlset):  # a page the site's sitemap leaves out (notebook pages): itself
            url = ET.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
            ET.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = home + scope[len(site_path) :]
        ET.ElementTree(urlset).write(folder / "sitemap.xml", encoding="utf-8", xml_declaration=True)
        written += 1
    return written
