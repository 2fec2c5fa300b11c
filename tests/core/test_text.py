"""text.cook: Markdown becomes HTML only through the allowlist, and nothing a member types runs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forum.text import LINK_REL, MAX_SOURCE_CHARS, cook, marked, plain_text

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<iframe src="https://evil.example"></iframe>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "![x](https://evil.example/x.png)",
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "<object data=javascript:alert(1)>",
    "<form action=https://evil.example><input name=q></form>",
]
EVENT_HANDLER = re.compile(r"<[^>]+\son\w+\s*=", re.IGNORECASE)


class _Markup(HTMLParser):
    """The tags and attributes a browser would see in cooked HTML (escaped text is not markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def markup(html: str) -> _Markup:
    parsed = _Markup()
    parsed.feed(html)
    parsed.close()
    return parsed


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_survives_as_markup(payload: str) -> None:
    found = markup(cook(payload))
    assert not found.tags & {"script", "img", "iframe", "svg", "form", "object", "style", "math"}
    assert not [name for name, _ in found.attributes if name.startswith("on")]
    assert not [
        value
        for name, value in found.attributes
        if name in ("href", "src") and not value.startswith(("https:", "http:", "mailto:"))
    ]


def test_raw_html_is_text_and_never_swallows_what_follows() -> None:
    """A raw <table> once reached the sanitiser's parser, which dropped the text after it."""
    html = cook("<table>\n<p>Echo showed severe aortic stenosis.</p>")
    assert markup(html).tags == {"p", "br"}
    assert "aortic stenosis" in plain_text(html)
    assert (
        cook("x <b>y</b> <sup>2</sup>") == "<p>x &lt;b&gt;y&lt;/b&gt; &lt;sup&gt;2&lt;/sup&gt;</p>"
    )


def test_raw_html_is_shown_as_text_rather_than_dropped() -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in cook("<script>alert(1)</script>")


def test_markdown_formatting_is_kept() -> None:
    html = cook("**bold** _em_ `code`\n\n- one\n- two\n\n> quoted")
    assert "<strong>bold</strong>" in html
    assert "<em>em</em>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert "<blockquote>" in html


def test_member_headings_sit_below_the_page_headings() -> None:
    assert cook("# Top\n\n## Next\n\n###### Low") == "<h3>Top</h3>\n<h4>Next</h4>\n<h6>Low</h6>"


def test_links_are_marked_as_user_content() -> None:
    html = cook("[trial](https://clinicaltrials.gov/study/NCT01234567) and https://doi.org/10.1/x")
    assert html.count(f'rel="{LINK_REL}"') == 2
    assert 'href="https://clinicaltrials.gov/study/NCT01234567"' in html


def test_code_is_not_linkified_or_double_escaped() -> None:
    html = cook("`a && b https://x.example`")
    assert html == "<p><code>a &amp;&amp; b https://x.example</code></p>"


def test_tables_render() -> None:
    html = cook("| Lab | Value |\n|---|---|\n| Na | 128 |")
    assert "<table>" in html
    assert "<td>128</td>" in html


def test_source_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than"):
        cook("x" * (MAX_SOURCE_CHARS + 1))


def test_plain_text_is_short_and_has_no_markup() -> None:
    text = plain_text(cook("**Bold** _tag_\n\n- item " + "word " * 100), limit=50)
    assert text.startswith("Bold tag item word")
    assert "*" not in text
    assert len(text) <= 50
    assert text.endswith("…")


def test_plain_text_decodes_entities_once() -> None:
    assert plain_text(cook("Na < 130 & K > 5")) == "Na < 130 & K > 5"


def test_marked_keeps_only_bare_mark_tags() -> None:
    snippet = '<mark class="x" onclick="y">MI</mark> <script>alert(1)</script> &lt;b&gt;'
    assert str(marked(snippet)) == "<mark>MI</mark> alert(1) &lt;b&gt;"  # tags dropped, text kept


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_any_text_cooks_to_markup_without_scripts_or_handlers(source: str) -> None:
    html = cook(source)
    assert "<script" not in html.lower()
    assert not EVENT_HANDLER.search(html)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "&", "[", "]", "(", ")", "`", "*", "#", "\n",
                                 "javascript:", "on", "=", '"', "img", "a href", "x"]),
                max_size=60).map("".join))  # fmt: skip
def test_markup_fragments_never_build_a_live_tag(source: str) -> None:
    html = cook(source)
    tags = re.findall(r"<\s*([a-zA-Z0-9]+)", html)
    allowed = {"p", "br", "hr", "strong", "em", "b", "i", "del", "s", "sup", "sub", "code",
               "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
               "table", "thead", "tbody", "tr", "th", "td"}  # fmt: skip
    assert set(tags) <= allowed
    assert not EVENT_HANDLER.search(html)
