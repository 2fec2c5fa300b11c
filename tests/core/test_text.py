"""text.cook: Markdown becomes HTML only through the allowlist, and nothing a member types runs."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_survives_as_markup(payload: str) -> None:
    html = cook(payload)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<iframe" not in html.lower()
    assert "<svg" not in html.lower()
    assert "<form" not in html.lower()
    assert 'href="javascript' not in html.lower()
    assert not EVENT_HANDLER.search(html)
    assert 'href="data:' not in html.lower()


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
    text = plain_text(cook("**Bold** <b>tag</b>\n\n- item " + "word " * 100), limit=50)
    assert "<" not in text
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
