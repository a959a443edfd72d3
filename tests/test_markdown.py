"""Markdown -> Telegram HTML and splitting, fed adversarial model output.

Every rendered part is checked with the same HTML rules the fake Telegram uses, so a part
that passes here is one Telegram accepts.
"""

from __future__ import annotations

import random

import pytest

from bot.services.markdown import (
    MESSAGE_LIMIT,
    render,
    split_markdown,
    take_chunk,
    to_part,
    to_parts,
    utf16_len,
)
from tests.fakes.telegram_rules import MAX_TEXT_LENGTH, parse_html


def accepted(html_text: str) -> str:
    """The visible text Telegram would show; fails the test if Telegram would refuse it."""
    parsed = parse_html(html_text)
    assert parsed.text.strip(), f"empty message: {html_text!r}"
    assert utf16_len(parsed.text) <= MAX_TEXT_LENGTH
    return parsed.text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("**bold** and *italic*", "<b>bold</b> and <i>italic</i>"),
        ("__bold__ and _italic_", "<b>bold</b> and <i>italic</i>"),
        ("***both***", "<b><i>both</i></b>"),
        ("~~gone~~", "<s>gone</s>"),
        ("use `x < y` here", "use <code>x &lt; y</code> here"),
        ("``a ` b``", "<code>a ` b</code>"),
        (
            "[site](https://example.com/a_b?x=1&y=2)",
            '<a href="https://example.com/a_b?x=1&amp;y=2">site</a>',
        ),
        ("<https://example.com>", '<a href="https://example.com">https://example.com</a>'),
        ("# Title", "<b>Title</b>"),
        ("### Sub title ###", "<b>Sub title</b>"),
        ("- one\n* two\n+ three", "• one\n• two\n• three"),
        ("  - nested *it*", "  • nested <i>it</i>"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted **b**\n> more", "<blockquote>quoted <b>b</b>\nmore</blockquote>"),
        ("---", "———"),
        (
            "```python\nprint('<hi>')\n```",
            "<pre><code class=\"language-python\">print('&lt;hi&gt;')</code></pre>",
        ),
        ("```\nplain & code\n```", "<pre>plain &amp; code</pre>"),
        ("**bold *it* x**", "<b>bold <i>it</i> x</b>"),
        ("snake_case_name and __init__", "snake_case_name and <b>init</b>"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("\\*not italic\\*", "*not italic*"),
        ("para one\n\n\n\n\npara two", "para one\n\npara two"),
    ],
)
def test_render(source: str, expected: str) -> None:
    assert render(source) == expected
    accepted(expected)


@pytest.mark.parametrize(
    ("source", "visible"),
    [
        ("<script>alert('x')</script>", "<script>alert('x')</script>"),
        ("a < b and c > d", "a < b and c > d"),
        ("Tom & Jerry &amp; &lt;", "Tom & Jerry &amp; &lt;"),
        ("**unbalanced bold", "**unbalanced bold"),
        ("*one _two", "*one _two"),
        ("stray ` backtick and ``` inline", "stray ` backtick and ``` inline"),
        ("__init without end", "__init without end"),
        ("**a *b** c*", "a *b c*"),
        ("<b>model html</b>", "<b>model html</b>"),
        ('[x](javascript:alert(1)) [y]("><b>)', '[x](javascript:alert(1)) [y]("><b>)'),
        ("```py\nunclosed fence <b>", "unclosed fence <b>"),
        ("see https://x.com/a*b*c_d_ ok", "see https://x.com/a*b*c_d_ ok"),
        ("ctrl\x00chars\x07 here\r\nnext", "ctrlchars here\nnext"),
        ("*", "*"),
        ("_", "_"),
        ("&", "&"),
    ],
)
def test_adversarial_output_is_escaped_and_well_formed(source: str, visible: str) -> None:
    assert accepted(render(source)) == visible


def test_code_block_language_is_sanitised() -> None:
    out = render('```"><script>\ncode\n```')
    assert out == "<pre>code</pre>"
    out = render("```c++ extra words\nint x;\n```")
    assert out == '<pre><code class="language-c++">int x;</code></pre>'


def test_empty_code_block_and_heading_show_nothing() -> None:
    assert render("```\n```") == ""
    assert render("#   ") == ""
    assert to_parts("```\n\n```\n\n") == []
    assert to_part("   \n") is None


def test_short_answer_is_one_part() -> None:
    parts = to_parts("Hello **there**")
    assert [p.html for p in parts] == ["Hello <b>there</b>"]
    assert parts[0].source == "Hello **there**"


def test_split_prefers_paragraphs() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 150 for i in range(12)]
    text = "\n\n".join(paragraphs)
    parts = to_parts(text)
    assert len(parts) > 1
    for part in parts:
        visible = accepted(part.html)
        assert utf16_len(visible) <= MESSAGE_LIMIT
        # every part starts at a paragraph start
        assert visible.startswith("Paragraph ")
    joined = "\n\n".join(accepted(p.html) for p in parts)
    assert joined.split() == text.split()


def test_split_falls_back_to_lines_then_words_then_hard() -> None:
    lines = "\n".join(f"line {i} " + "x" * 60 for i in range(200))
    for part in to_parts(lines):
        assert accepted(part.html).startswith("line ")

    words = " ".join(f"w{i}" for i in range(3000))
    parts = to_parts(words)
    assert len(parts) > 1
    assert " ".join(accepted(p.html) for p in parts).split() == words.split()

    blob = "y" * 9000
    parts = to_parts(blob)
    assert [len(accepted(p.html)) for p in parts] == [MESSAGE_LIMIT, MESSAGE_LIMIT, 1000]


def test_10000_character_code_block_becomes_closed_pre_blocks() -> None:
    code = "\n".join(f"x_{i} = {i} * 2  # <tag> & stuff" for i in range(330))
    assert len(code) > 10_000
    text = f"Here is the code:\n\n```python\n{code}\n```\n\nThat's all."
    parts = to_parts(text)
    assert len(parts) >= 3
    seen_code: list[str] = []
    for part in parts:
        accepted(part.html)
        assert part.html.count("<pre>") == part.html.count("</pre>")
        if "<pre>" in part.html:
            assert '<code class="language-python">' in part.html
            body = part.html.split('<code class="language-python">', 1)[1].split("</code>")[0]
            seen_code.append(parse_html(f"<pre>{body}</pre>").text)
    assert "\n".join(seen_code) == code
    assert accepted(parts[0].html).startswith("Here is the code:")
    assert accepted(parts[-1].html).endswith("That's all.")


def test_single_huge_code_line_is_cut_inside_closed_blocks() -> None:
    text = "```\n" + "z" * 10_000 + "\n```"
    parts = to_parts(text)
    assert len(parts) == 3
    assert all(p.html.startswith("<pre>") and p.html.endswith("</pre>") for p in parts)
    assert "".join(accepted(p.html) for p in parts) == "z" * 10_000


def test_limit_counts_utf16_units() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    parts = to_parts(text)
    assert len(parts) == 2
    for part in parts:
        assert utf16_len(accepted(part.html)) <= MESSAGE_LIMIT


def test_escaping_does_not_push_a_part_over_the_limit() -> None:
    # '<' renders as '&lt;' (4 characters of HTML, 1 visible): the limit is on what shows.
    text = "<" * 3990
    [part] = to_parts(text)
    assert len(part.html) > 4096
    assert accepted(part.html) == text


def test_take_chunk_is_stable_while_text_grows() -> None:
    rng = random.Random(7)
    words = ["alpha", "**beta**", "`gamma`", "\n", "\n\n", "```js\n", "\n```\n", "delta_e", "<x>"]
    text = "".join(rng.choice(words) + " " for _ in range(3000))
    first = take_chunk(text[:5000])
    assert first is not None
    for end in (6000, 8000, len(text)):
        assert take_chunk(text[:end]) == (first[0], first[1] + text[5000:end])


def test_take_chunk_returns_none_when_it_fits() -> None:
    assert take_chunk("short") is None
    assert take_chunk("x" * MESSAGE_LIMIT) is None


def test_pathological_fence_line_still_terminates() -> None:
    text = "```" + "i" * 3500 + "\n" + "c" * 9000
    parts = split_markdown(text)
    assert 2 <= len(parts) < 40
    for piece in parts:
        rendered = render(piece)
        if rendered:
            accepted(rendered)


def test_random_markdown_soup_always_renders_valid_parts() -> None:
    rng = random.Random(2024)
    tokens = [
        "*", "**", "_", "__", "`", "```", "~~", "[", "]", "(", ")", "<", ">", "&", "#", "- ",
        "> ", "\n", "\n\n", "```python\n", "\n```", "http://a.b/c_d", "[l](https://x.y)",
        "word", "слово", "😀", " ", "\\", "&amp;", "<b>", "</i>", "|", "1. ",
    ]  # fmt: skip
    for _ in range(30):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 3000)))
        for part in to_parts(text, limit=500):
            visible = parse_html(part.html).text
            assert utf16_len(visible) <= 500
            assert utf16_len(part.source) <= 500 + 20  # source may carry a reopened fence
