"""What the web connector reads in a page: its main content without the site's navigation, its title, its
links and canonical URL; and what it reads in robots.txt and sitemaps.

The main content is what is left once navigation, headers, footers, sidebars, scripts and forms are gone
(by tag, by ARIA role, and by the class names of common documentation generators: Sphinx, MkDocs Material,
Docusaurus, Read the Docs), taken from `<main>`, `[role=main]`, `<article>`, `#content` or `.body`.
"""

from __future__ import annotations

import hashlib
import html
import re
import zlib
from urllib.parse import quote, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import lxml.html
from lxml import etree
from pydantic import BaseModel

DROP_TAGS = {
    "nav", "aside", "script", "style", "noscript", "form", "template", "iframe", "button", "select",
    "dialog", "svg", "canvas", "object", "embed",
}  # fmt: skip
PAGE_PARTS = {"header", "footer"}  # dropped unless inside the main content or an article (its own title)
DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar", "toolbar"}
DROP_CLASSES = {
    # Sphinx (basic, alabaster, classic) and Read the Docs' theme
    "sphinxsidebar", "related", "footer", "headerlink", "wy-nav-side", "wy-nav-top", "wy-breadcrumbs",
    "rst-versions", "rst-footer-buttons", "prev-next-area", "bd-sidebar-primary", "bd-sidebar-secondary",
    "bd-header", "bd-footer", "sidebar-drawer", "toc-drawer", "related-pages", "mobile-header",
    # MkDocs Material
    "md-header", "md-tabs", "md-sidebar", "md-footer", "md-nav", "md-search", "md-source", "md-top",
    "md-dialog", "md-banner", "md-content__button",
    # Docusaurus
    "navbar", "theme-doc-sidebar-container", "theme-doc-toc-desktop", "theme-doc-toc-mobile",
    "theme-doc-footer", "theme-doc-breadcrumbs", "pagination-nav", "breadcrumbs", "table-of-contents",
    # everywhere
    "sidebar", "skip-link", "skip-to-content", "cookie-banner", "edit-this-page", "visually-hidden",
}  # fmt: skip
DROP_IDS = {"sidebar", "navigation", "nav", "header", "footer", "searchbox", "toc", "menu"}
SECTIONS = {
    "section",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}  # ids named after their titles: never dropped by id
MAIN_XPATHS = (
    "//main",
    "//*[@role='main']",
    "//article",
    "//*[@id='content']",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' body ')]",
)
HTML_TYPES = ("text/html", "application/xhtml+xml")
NOT_PAGES = re.compile(
    r"\.(png|jpe?g|gif|svg|ico|webp|bmp|css|js|mjs|map|json|xml|txt|inv|pdf|zip|gz|tgz|bz2|xz|tar|whl|egg|"
    r"exe|msi|dmg|deb|rpm|apk|iso|mp[34]|webm|ogg|wav|avi|mov|woff2?|ttf|otf|eot|docx?|xlsx?|pptx?|csv)$",
    re.IGNORECASE,
)
SAFE_PATH = "/%:@!$&'()*+,;=~-._"
MAX_SITEMAP_BYTES = 50_000_000  # the sitemap protocol's limit for one file, uncompressed


class Extracted(BaseModel):
    """What one HTML page gives the crawl and the index."""

    title: str
    document: str  # a small HTML file: the title as h1, then the main content
    digest: str  # sha256 of the main content's text: the same page under two URLs is listed once
    links: list[str]  # absolute, normalised, sorted
    canonical: str = ""
    noindex: bool = False
    nofollow: bool = False


class SitemapFile(BaseModel):
    """One sitemap file: page URLs with their lastmod, or (a sitemap index) more sitemaps."""

    pages: list[tuple[str, str]] = []
    sitemaps: list[str] = []


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in HTML_TYPES


def normalise(url: str, keep_query: bool = False) -> str | None:
    """`url` without fragment (and query), host lower-cased, default port dropped; None unless http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = quote(_without_dots(parts.path or "/"), safe=SAFE_PATH)
    return urlunsplit((scheme, netloc, path, parts.query if keep_query else "", ""))


def _without_dots(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    end = "/" if path.endswith(("/", "/.", "/..")) and out and out[-1] != "" else ""
    return "/" + "/".join(out) + end


def folder_of(url: str) -> str:
    """The folder of a URL: up to and including the last '/' of its path."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path[: parts.path.rfind("/") + 1] or "/", "", ""))


def looks_like_page(url: str) -> bool:
    """False for links that are obviously not HTML pages (images, archives, sources), not worth a request."""
    return not NOT_PAGES.search(urlsplit(url).path)


def extract(body: bytes, url: str, encoding: str | None = None) -> Extracted:
    """The title, main content, links and robots directives of an HTML page."""
    parser = lxml.html.HTMLParser(encoding=encoding, remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(body, parser=parser)
    except (etree.ParserError, ValueError):
        root = lxml.html.document_fromstring(b"<html><body></body></html>")
    base = url
    for href in root.xpath("//base/@href"):
        base = urljoin(url, str(href))
        break
    meta = root.xpath("//meta[translate(@name, 'ROBTS', 'robts')='robots']/@content")
    robots = {d.strip() for c in meta for d in str(c).lower().split(",")}
    links = sorted(
        {
            link
            for href in root.xpath("//a[@href] | //area[@href]")
            if (link := normalise(urljoin(base, str(href.get("href")))))
        }
    )
    canonical = ""
    for href in root.xpath("//link[@rel='canonical']/@href"):
        canonical = normalise(urljoin(base, str(href)), keep_query=True) or ""
        break
    title = _text(root.find(".//title")) or _text(root.find(".//h1")) or _last_segment(url)
    main = main_content(root)
    text = " ".join(main.text_content().split())
    return Extracted(
        title=title,
        document=_document(title, main),
        digest=hashlib.sha256(text.encode()).hexdigest(),
        links=links,
        canonical=canonical,
        noindex=bool(robots & {"noindex", "none"}),
        nofollow=bool(robots & {"nofollow", "none"}),
    )


def main_content(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """The element holding the page's own content, with navigation and page furniture removed."""
    _drop_furniture(root)
    for xpath in MAIN_XPATHS:
        for found in root.xpath(xpath):
            if " ".join(found.text_content().split()):
                return found  # type: ignore[no-any-return]
    body = root.find("body")
    return body if body is not None else root


def _drop_furniture(root: lxml.html.HtmlElement) -> None:
    doomed = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        classes = set((element.get("class") or "").split())
        if (
            tag in DROP_TAGS
            or (element.get("role") or "").lower() in DROP_ROLES
            or classes & DROP_CLASSES
            or ((element.get("id") or "").lower() in DROP_IDS and not ({tag, *classes} & SECTIONS))
            or (tag in PAGE_PARTS and not _inside_content(element))
        ):
            doomed.append(element)
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()


def _inside_content(element: lxml.html.HtmlElement) -> bool:
    return any(
        a.tag in ("main", "article") or a.get("role") == "main" for a in element.iterancestors() if a.tag
    )


def _document(title: str, main: lxml.html.HtmlElement) -> str:
    """A small HTML file for the parser: the title as h1, then the main content (its own h1 if it repeats
    the title is left out)."""
    first = main.find(".//h1")
    if first is not None and _text(first) and _text(first).lower() in title.lower():
        first.drop_tree()
    inner = html.escape(main.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode", method="html") for child in main
    )
    name = html.escape(title)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{name}</title></head>'
        f"<body><h1>{name}</h1>\n{inner}\n</body></html>\n"
    )


def _text(element: lxml.html.HtmlElement | None) -> str:
    return " ".join(element.text_content().split()) if element is not None else ""


def _last_segment(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or urlsplit(url).netloc


def robots_from(text: str) -> RobotFileParser:
    """A robots.txt, parsed (an empty text allows everything)."""
    rules = RobotFileParser()
    rules.parse(text.splitlines())
    return rules


def parse_sitemap(data: bytes) -> SitemapFile:
    """A sitemap or sitemap index (gzip-compressed or not), parsed without entities or network access.
    ValueError when it is not a sitemap."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    name = etree.QName(root).localname
    if name not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap (root element <{name}>)")
    found = SitemapFile()
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        loc = _child_text(entry, "loc")
        if not loc:
            continue
        if name == "sitemapindex":
            found.sitemaps.append(loc)
        else:
            found.pages.append((loc, _child_text(entry, "lastmod")))
    return found


def _child_text(entry: etree._Element, name: str) -> str:
    for child in entry:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return ""


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_SITEMAP_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"broken gzip: {exc}") from exc
    if len(out) > MAX_SITEMAP_BYTES:
        raise ValueError("sitemap larger than 50 MB uncompressed")
    return out
