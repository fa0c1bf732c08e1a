import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.mrkdwn import WORD_JOINER, clip, to_mrkdwn
from bot.render import (
    FEEDBACK,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    MAX_BLOCKS,
    PRIVATE_ANSWER,
    SECTION_CHARS,
    SNIPPET_CHARS,
    Block,
    age,
    answer_blocks,
    escape,
    fallback_text,
    link,
    markdown_safe,
    notice_blocks,
    plain_feedback,
    private_offer_blocks,
    source_blocks,
    split_sections,
)
from knowledge.models import Answer, AnswerMode, Citation

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
HOSTILE = ["<!channel>", "<!here|here>", "<@U1>", "<#C1>", "<https://x|y>", "<!subteam^S1>"]


def cite(n: int, **fields: Any) -> Citation:
    values: dict[str, Any] = {
        "n": n,
        "doc_id": f"doc{n}",
        "source": "handbook",
        "title": f"Policy {n}",
        "url": f"https://wiki.example.com/p/{n}",
        "snippet": f"Snippet {n}.",
        "score": 1.0,
        "updated_at": NOW - timedelta(days=3),
    }
    return Citation(**(values | fields))


def answer(text: str = "Navan books travel [1].", count: int = 1, mode: AnswerMode = "generative") -> Answer:
    return Answer(answer=text, mode=mode, citations=[cite(n) for n in range(1, count + 1)])


def texts(blocks: list[Block]) -> list[str]:
    """Every mrkdwn/plain text in `blocks`."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element["type"] == "feedback_buttons":
                found += [element[b]["text"]["text"] for b in ("positive_button", "negative_button")]
            else:
                found.append(element["text"]["text"] if element["type"] == "button" else element["text"])
    return found


def section_texts(blocks: list[Block]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def long_answer(chars: int) -> str:
    sentences = [
        f"Sentence number {i} explains one more detail of the travel policy [{i % 5 + 1}]."
        for i in range(2000)
    ]
    paragraphs = [" ".join(sentences[i : i + 7]) for i in range(0, len(sentences), 7)]
    return "\n\n".join(paragraphs)[:chars]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U1>", "&lt;@U1&gt;"),
        ("<#C1>", "&lt;#C1&gt;"),
        ("<https://x|y>", "&lt;https://x|y&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),
        ("@here now", f"@{WORD_JOINER}here now"),
        ("ping @Channel!", f"ping @{WORD_JOINER}Channel!"),
        ("@everyone", f"@{WORD_JOINER}everyone"),
        ("@hereford and @channels", "@hereford and @channels"),
        ("mail bob@example.com", "mail bob@example.com"),
        ("plain *bold* text", "plain *bold* text"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


@pytest.mark.parametrize("raw", [*HOSTILE, "@here", "@channel", "x <@U1> y <!everyone> z"])
def test_escaped_text_has_no_slack_syntax(raw: str) -> None:
    out = escape(raw)
    assert "<" not in out and ">" not in out
    assert not re.search(r"@(channel|here|everyone)", out)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("<!channel> hi", f"<{WORD_JOINER}!channel> hi"),
        ("<@U1>", f"<{WORD_JOINER}@U1>"),
        ("<#C1|general>", f"<{WORD_JOINER}#C1|general>"),
        ("<https://evil|click>", f"<{WORD_JOINER}https://evil|click>"),
        ("@here", f"@{WORD_JOINER}here"),
        ("**bold** and [1]", "**bold** and [1]"),
        ("- item [2]\n- other", "- item [2]\n- other"),
        ("a < b > c", "a < b > c"),
        ("see <https://example.com>", "see <https://example.com>"),
        ("[docs](https://example.com)", "docs (https://example.com)"),
        ("[Click here](https://evil.example/x) [3]", "Click here (https://evil.example/x) [3]"),
    ],
)
def test_markdown_safe(raw: str, safe: str) -> None:
    assert markdown_safe(raw) == safe


@pytest.mark.parametrize("raw", [*HOSTILE, "@here <@U1>", "a <b|c> d", "<<!channel>>"])
def test_markdown_safe_is_idempotent_and_clean(raw: str) -> None:
    once = markdown_safe(raw)
    assert markdown_safe(once) == once
    assert not re.search(r"<[!@#]", once)
    assert not re.search(r"<[^<>\u2060][^<>]*\|[^<>]*>", once)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(0), "today"),
        (timedelta(hours=23), "today"),
        (timedelta(hours=-5), "today"),
        (timedelta(days=1), "yesterday"),
        (timedelta(days=1, hours=23), "yesterday"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=6), "6 days ago"),
        (timedelta(days=7), "1 week ago"),
        (timedelta(days=14), "2 weeks ago"),
        (timedelta(days=29), "4 weeks ago"),
        (timedelta(days=30), "1 month ago"),
        (timedelta(days=150), "5 months ago"),
        (timedelta(days=364), "12 months ago"),
        (timedelta(days=365), "1 year ago"),
        (timedelta(days=800), "2 years ago"),
    ],
)
def test_age(delta: timedelta, words: str) -> None:
    assert age(NOW - delta, NOW) == words


def test_age_unknown_and_naive() -> None:
    assert age(None, NOW) == ""
    assert age(datetime(2025, 6, 12, 12, 0), NOW) == "3 days ago"


@pytest.mark.parametrize(
    ("url", "title", "rendered"),
    [
        ("https://wiki.example.com/a", "Travel", "<https://wiki.example.com/a|Travel>"),
        ("http://x.example.com", "A & B", "<http://x.example.com|A &amp; B>"),
        ("HTTPS://X.EXAMPLE.COM", "Up", "<HTTPS://X.EXAMPLE.COM|Up>"),
        ("https://x.example.com/?a=1&b=2", "Q", "<https://x.example.com/?a=1&amp;b=2|Q>"),
        ("https://x.example.com", "a|b > c", "<https://x.example.com|a∣b &gt; c>"),
        ("https://x.example.com", "<!channel>", "<https://x.example.com|&lt;!channel&gt;>"),
        ("https://x.example.com", "", "<https://x.example.com>"),
        ("https://x.example.com/a b", "Spaced", "Spaced"),
        ("https://x.example.com/|evil", "Piped", "Piped"),
        ("https://x.example.com/<b>", "Angled", "Angled"),
        ("javascript:alert(1)", "JS", "JS"),
        ("ftp://files.example.com/x", "FTP", "FTP"),
        ("https://", "Empty host", "Empty host"),
        ("", "No url", "No url"),
        ("policies/travel.md", "Travel", "Travel"),
        ("policies/a&b.md", "", "policies/a&amp;b.md"),
    ],
)
def test_link(url: str, title: str, rendered: str) -> None:
    assert link(url, title) == rendered


@pytest.mark.parametrize(
    ("raw", "converted"),
    [
        ("**bold** [1]", "*bold* [1]"),
        ("## Heading\nbody", "*Heading*\nbody"),
        ("* one\n- two", "• one\n• two"),
        ("a ** b ** c", "a ** b ** c"),
        ("<@U1> **x**", "&lt;@U1&gt; *x*"),
    ],
)
def test_to_mrkdwn(raw: str, converted: str) -> None:
    assert to_mrkdwn(raw) == converted


def test_blocks_json_serialise() -> None:
    blocks = answer_blocks(answer(count=3), answer_id="a1", now=NOW)
    assert json.loads(json.dumps(blocks)) == blocks


def test_answer_blocks_shape() -> None:
    blocks = answer_blocks(answer("**Navan** books travel [1].", count=1), answer_id="a1", now=NOW)
    assert [b["type"] for b in blocks] == ["section", "divider", "section", "context", "context_actions"]
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": "*Navan* books travel [1]."}
    assert blocks[2]["text"]["text"] == "*Sources*"
    line = blocks[3]["elements"][0]["text"]
    assert line == "[1] <https://wiki.example.com/p/1|Policy 1> · handbook · 3 days ago\nSnippet 1."


def test_slacks_feedback_buttons_carry_the_vote_and_the_answer_id() -> None:
    actions = answer_blocks(answer(), answer_id="ans-42", now=NOW)[-1]
    assert (actions["type"], actions["block_id"]) == ("context_actions", "lore_feedback")
    [buttons] = actions["elements"]
    assert (buttons["type"], buttons["action_id"]) == ("feedback_buttons", FEEDBACK)
    assert buttons["positive_button"]["value"] == "up:ans-42"
    assert buttons["negative_button"]["value"] == "down:ans-42"


def test_plain_buttons_replace_slacks_own_where_refused() -> None:
    blocks = answer_blocks(answer(), answer_id="ans-42", now=NOW)
    plain = plain_feedback(blocks)
    assert plain[:-1] == blocks[:-1] and plain[-1]["type"] == "actions"
    assert [(e["action_id"], e["value"]) for e in plain[-1]["elements"]] == [
        (FEEDBACK_UP, "ans-42"),
        (FEEDBACK_DOWN, "ans-42"),
    ]
    assert [e["text"]["text"] for e in plain[-1]["elements"]] == ["👍 Helpful", "👎 Not helpful"]


@pytest.mark.parametrize("mode", ["generative", "extractive", "no_answer"])
def test_feedback_optional_in_every_mode(mode: AnswerMode) -> None:
    with_buttons = answer_blocks(answer(mode=mode), answer_id="a", now=NOW)
    without = answer_blocks(answer(mode=mode), answer_id="a", now=NOW, feedback=False)
    assert with_buttons[-1]["type"] == "context_actions"
    assert all(b["type"] != "context_actions" for b in without)


@pytest.mark.parametrize(
    ("mode", "heading"), [("no_answer", "*Closest sources*"), ("extractive", "*Sources*")]
)
def test_sources_heading(mode: AnswerMode, heading: str) -> None:
    blocks = answer_blocks(answer("Nothing covers this.", count=2, mode=mode), answer_id="a", now=NOW)
    assert blocks[0]["text"]["text"] == "Nothing covers this."
    assert heading in section_texts(blocks)


def test_no_citations_no_sources() -> None:
    blocks = answer_blocks(answer("No idea.", count=0, mode="no_answer"), answer_id="a", now=NOW)
    assert [b["type"] for b in blocks] == ["section", "context_actions"]


@pytest.mark.parametrize(
    ("count", "chars"), [(12, 200), (12, 20_000), (60, 200), (60, 20_000), (60, 200_000), (3, 200_000)]
)
def test_limits(count: int, chars: int) -> None:
    blocks = answer_blocks(answer(long_answer(chars), count=count), answer_id="a", now=NOW)
    assert len(blocks) <= MAX_BLOCKS
    assert all(0 < len(t) <= SECTION_CHARS for t in texts(blocks))
    assert all(len(b.get("elements", [])) <= 10 for b in blocks)
    assert blocks[-1]["type"] == "context_actions"


def test_twelve_citations_all_shown() -> None:
    blocks = answer_blocks(answer(count=12), answer_id="a", now=NOW)
    assert sum(b["type"] == "context" for b in blocks) == 12
    assert "more source" not in json.dumps(blocks)


def test_many_citations_fold_into_more() -> None:
    blocks = answer_blocks(answer(count=60), answer_id="a", now=NOW)
    assert len(blocks) == MAX_BLOCKS
    assert blocks[-2]["elements"][0]["text"] == "+15 more sources"


def test_long_answer_splits_and_keeps_markers() -> None:
    text = long_answer(20_000)
    blocks = answer_blocks(answer(text, count=5), answer_id="a", now=NOW)
    sections = section_texts(blocks)[:-1]  # the last section is the Sources heading
    assert len(sections) >= 7
    assert all(len(s) <= SECTION_CHARS for s in sections)
    assert re.findall(r"\[\d+\]", "".join(sections)) == re.findall(r"\[\d+\]", text)
    assert "(answer truncated)" not in "".join(sections)


def test_huge_answer_is_truncated_with_note() -> None:
    blocks = answer_blocks(answer(long_answer(200_000), count=12), answer_id="a", now=NOW)
    sections = section_texts(blocks)
    assert sections[sections.index("*Sources*") - 1].endswith("_(answer truncated)_")
    assert sum(b["type"] == "context" for b in blocks) == 12


@pytest.mark.parametrize(
    "text",
    [
        "x" * 7000,
        "[1]" * 2500,
        "&" * 5000,
        ("word " * 1000).strip() + "[3]" + "\n\n" + "y" * 3500,
        "One sentence [1]. " * 400,
        "Ends with marker.[2] " * 500,
    ],
)
def test_split_sections(text: str) -> None:
    pieces = split_sections(escape(text))
    assert all(0 < len(p) <= SECTION_CHARS for p in pieces)
    joined = "".join(pieces)
    assert re.findall(r"\[\d+\]", joined) == re.findall(r"\[\d+\]", text)
    assert joined.count("&amp;") == text.count("&")


def test_sentence_split_keeps_marker_with_its_sentence() -> None:
    pieces = split_sections("A long claim [1]. " * 10 + "Last.[2] Next one.", limit=40)
    assert all(
        re.fullmatch(r"(A long claim \[1\]\. ?)+|Last\.\[2\]( Next one\.)?|Next one\.", p) for p in pieces
    )


def test_snippet_cut_at_word_with_ellipsis() -> None:
    long = "alpha beta gamma delta " * 30
    blocks = answer_blocks(
        Answer(answer="x", mode="extractive", citations=[cite(1, snippet=long)]), answer_id="a", now=NOW
    )
    snippet = blocks[-2]["elements"][0]["text"].split("\n", 1)[1]
    assert snippet.endswith("…")
    assert len(snippet) <= SNIPPET_CHARS
    assert snippet[:-1].split(" ")[-1] in {"alpha", "beta", "gamma", "delta"}


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            {"url": "", "title": "<!channel> plan"},
            "[1] &lt;!channel&gt; plan · `doc1` · handbook · 3 days ago",
        ),
        ({"updated_at": None}, "[1] <https://wiki.example.com/p/1|Policy 1> · handbook"),
        ({"url": "docs/a.md", "title": ""}, "[1] doc1 · handbook · 3 days ago"),
        ({"source": "@here", "url": ""}, f"[1] Policy 1 · `doc1` · @{WORD_JOINER}here · 3 days ago"),
    ],
)
def test_citation_line(fields: dict[str, Any], line: str) -> None:
    blocks = source_blocks(
        Answer(answer="", mode="generative", citations=[cite(1, **fields)]), answer_id="a", now=NOW
    )
    assert blocks[2]["elements"][0]["text"].split("\n")[0] == line


def test_citation_with_absurd_url_stays_in_limit() -> None:
    citation = cite(1, url="https://x.example.com/" + "a" * 5000)
    blocks = source_blocks(Answer(answer="", mode="generative", citations=[citation]), answer_id="a", now=NOW)
    text = blocks[2]["elements"][0]["text"]
    assert len(text) <= SECTION_CHARS and text.startswith("[1] Policy 1")


def test_source_blocks_have_no_answer_text() -> None:
    blocks = source_blocks(answer("Secret text [1].", count=2), answer_id="a", now=NOW)
    assert [b["type"] for b in blocks] == ["divider", "section", "context", "context", "context_actions"]
    assert "Secret text" not in json.dumps(blocks)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi <@U1> & **you** [1]", "Hi &lt;@U1&gt; &amp; *you* [1]"),
        ("", "Lore found no answer."),
    ],
)
def test_fallback_text(text: str, expected: str) -> None:
    assert fallback_text(answer(text)) == expected


def test_fallback_text_is_short() -> None:
    text = fallback_text(answer(long_answer(20_000)))
    assert len(text) <= SECTION_CHARS and text.endswith("…")


def test_notice_blocks() -> None:
    assert notice_blocks("Can't reach <!here> & co") == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Can't reach &lt;!here&gt; &amp; co"}}
    ]
    assert len(notice_blocks("z " * 4000)[0]["text"]["text"]) <= SECTION_CHARS
    with pytest.raises(ValueError):
        notice_blocks("  ")


@pytest.mark.parametrize(
    ("count", "why", "sentence"),
    [
        (1, "", "1 more source that only you can read may answer this better."),
        (
            3,
            "everyone in the workspace can read this public channel",
            "3 more sources that only you can read may answer this better. I left them out because "
            "everyone in the workspace can read this public channel.",
        ),
        (
            2,
            "<!channel> & co",
            "2 more sources that only you can read may answer this better. I left them "
            "out because &lt;!channel&gt; &amp; co.",
        ),
    ],
)
def test_private_offer(count: int, why: str, sentence: str) -> None:
    section, actions = private_offer_blocks(count, "offer-9", why)
    assert section["text"]["text"] == sentence
    [button] = actions["elements"]
    assert (button["action_id"], button["value"], button["text"]["text"]) == (
        PRIVATE_ANSWER,
        "offer-9",
        "Answer me privately",
    )
    json.dumps([section, actions])


def test_private_offer_needs_sources() -> None:
    with pytest.raises(ValueError):
        private_offer_blocks(0, "offer")


@pytest.mark.parametrize(
    ("text", "limit", "clipped"),
    [
        ("short", 10, "short"),
        ("one two three four", 10, "one two…"),
        ("a\n\n  b", 10, "a b"),
        ("x" * 20, 10, "x" * 9 + "…"),
    ],
)
def test_clip(text: str, limit: int, clipped: str) -> None:
    assert clip(text, limit) == clipped
