"""A streamed answer cannot smuggle a disguised link into Slack, whatever its length and however it is cut
into pieces: what Slack assembles from the streamed pieces never holds `[label](url)`, a reference link, or
`<url|label>`, and never pings. The URL itself stays visible."""

from __future__ import annotations

import re

import pytest

from bot.mrkdwn import markdown_safe
from bot.reply import sendable
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import BOB, bot_harness, bot_settings
from tests.llm_standin import LLMStandin, pieces
from tests.slack_standin import SlackStandin

EVIL = "https://evil.example/steal"
HOSTILE = [
    f"[{'click here for the policy ' * 12}]({EVIL})",  # a label longer than any hold-back
    f"[the policy]({EVIL}/{'a' * 400})",  # a URL longer than any hold-back
    f"<{EVIL}/{'b' * 300}|the policy>",
    f"<{EVIL}|{'the policy ' * 30}>",
    f"[a [nested] label]({EVIL})",
    f"[the policy][ref]\n\n[ref]: {EVIL}",
    f"![logo]({EVIL}.png)",
    f"[the policy]\n(not a link) then [x]({EVIL})",
    "<!channel> and <@U123> and @here",
]


def disguised(text: str) -> list[str]:
    """Every piece of syntax in `text` that Slack could render as a link hiding its URL, or a ping."""
    found = re.findall(r"\][(\[:]", text)  # an inline link, a reference, or a reference's definition
    found += re.findall(r"<[^<>\s\u2060][^<>]*\|[^<>]*>", text)  # <url|label>
    found += re.findall(r"<[!@#]|@(?:here|channel|everyone)\b", text)
    return found


def streamed(text: str, size: int) -> str:
    """What Slack assembles when `text` arrives in pieces of `size` and is streamed as `Reply` does."""
    pending, sent = "", []
    for delta in pieces(text, size):
        pending += delta
        ready = sendable(pending, final=False)
        sent.append(markdown_safe(ready))
        pending = pending[len(ready) :]
    return "".join(sent) + markdown_safe(pending)


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
@pytest.mark.parametrize("text", HOSTILE)
def test_no_piece_size_lets_a_link_or_ping_through(text: str, size: int) -> None:
    shown = streamed(text, size)
    assert disguised(shown) == []
    assert ("evil.example" in shown) is ("evil.example" in text)  # the URL is shown, not dropped


def test_a_short_link_is_still_shown_as_label_and_url() -> None:
    assert streamed(f"See [the policy]({EVIL}).", 3) == f"See the policy ({EVIL})."


async def test_an_llm_streaming_long_links_in_small_deltas_reaches_slack_defused(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    reply = "Meals are reimbursed up to 75 euros a day [1]. " + " ".join(HOSTILE)
    async with LLMStandin(replies=[reply], piece_size=4) as llm:
        tuned = bot_settings(settings, slack, llm_base_url=llm.base_url, stream_interval=0.001)
        with_llm = Knowledge(tuned, loaded_kb.index, loaded_kb.embedder)
        async with bot_harness(with_llm, [MemoryStore()], tuned, slack) as bot:
            ts = await bot.mention(BOB, "CGENERAL", "How much are meals reimbursed on business trips?")
            await bot.answer_in("CGENERAL", ts)
        await with_llm.answerer.close()
    calls = slack.calls_to("chat.startStream") + slack.calls_to("chat.appendStream")
    assert len(calls) > 10  # many small pieces
    text = "".join(str(call.args.get("markdown_text") or "") for call in calls)
    assert "75 euros" in text and "evil.example" in text  # the answer did stream
    assert disguised(text) == []
