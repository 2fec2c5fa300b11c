"""The one place member text becomes HTML: Markdown, then a bleach allowlist.

Cooked once at write time and stored beside the source; pages never render Markdown on read.
"""

from __future__ import annotations

import html
import re
from functools import cache, partial

import bleach
import markdown
from bleach.linkifier import LinkifyFilter
from markupsafe import Markup

# Longest source cook() accepts; forms enforce their own (smaller) limits first.
MAX_SOURCE_CHARS = 100_000

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "strong", "em", "b", "i", "del", "s", "sup", "sub", "code", "pre",
        "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": ["href", "title", "rel"], "th": ["align"], "td": ["align"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener ugc"

_HEADING_TAG = re.compile(r"<(/?)h([1-6])>")


def _set_rel(
    attrs: dict[tuple[str | None, str], str], new: bool = False
) -> dict[tuple[str | None, str], str]:
    """Every link the member wrote is marked as user content that earns no ranking."""
    attrs[(None, "rel")] = LINK_REL
    return attrs


@cache
def _cleaner() -> bleach.Cleaner:
    # strip=False: anything outside the allowlist is shown as text, never interpreted or lost.
    return bleach.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=False,
        filters=[partial(LinkifyFilter, callbacks=[_set_rel], skip_tags={"pre", "code"})],
    )


def _markdown(source: str) -> str:
    # A fresh converter per call: Markdown instances keep state between conversions.
    converter = markdown.Markdown(
        extensions=["fenced_code", "tables", "sane_lists", "nl2br"], output_format="html"
    )
    # Raw HTML in the source is text, never markup: only Markdown makes tags. A member's raw
    # <table> would otherwise reach the sanitiser's parser, which drops what follows it.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter.convert(source)


def _shift_headings(html: str) -> str:
    """Member headings sit under the page's own h1 and h2."""
    return _HEADING_TAG.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + 2, 6)}>", html)


def cook(source: str) -> str:
    """Member Markdown as safe HTML: only allowlisted tags and attributes, links marked ugc."""
    if len(source) > MAX_SOURCE_CHARS:
        raise ValueError(f"text longer than {MAX_SOURCE_CHARS} characters")
    return _cleaner().clean(_shift_headings(_markdown(source)))


def plain_text(cooked: str, limit: int | None = None) -> str:
    """The text of cooked HTML (as stored at write), whitespace collapsed, entities decoded;
    cut to `limit` characters with an ellipsis when given. For snippets and the search index,
    so nothing renders Markdown again on read."""
    stripped = bleach.clean(cooked, tags=set(), strip=True)
    text = " ".join(html.unescape(stripped).split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def marked(snippet: str) -> Markup:
    """A search snippet with nothing but bare <mark> tags kept as markup; the rest escaped."""
    cleaned = bleach.clean(snippet, tags={"mark"}, attributes={}, strip=True)
    return Markup(cleaned)  # noqa: S704 - bleach leaves only bare <mark> tags
