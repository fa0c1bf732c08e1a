"""What the worker tells an admin in Slack quotes file names and errors from the source: escaped, so that a
file named like `<!channel> <https://evil|click>.md` can neither ping a channel nor disguise a link."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pydantic import SecretStr

from bot.mrkdwn import escape as bot_escape
from ingestion.source_jobs import finished_text, run_sync
from ingestion.sync_result import DocError, SyncResult
from knowledge.embedding.cache import CachedEmbedder
from knowledge.jobs import JobRequest
from knowledge.settings import Settings
from knowledge.slack_text import escape
from knowledge.sources import Source
from tests.change_harness import ADMIN, world
from tests.conftest import write_pages
from tests.slack_standin import SlackStandin

HOSTILE = "<!channel> <https://evil.example|click here> <@U0BOSS> @here & @everyone.md"
FORBIDDEN = ("<!channel>", "<https://evil.example|", "<@U0BOSS>", "@here", "@everyone")


def test_one_escape_serves_the_bot_and_the_worker() -> None:
    assert escape(HOSTILE) == bot_escape(HOSTILE)
    assert escape("a & b <c>") == "a &amp; b &lt;c&gt;"
    assert not any(bad in escape(HOSTILE) for bad in FORBIDDEN)


def test_a_finished_message_escapes_file_names_and_reasons() -> None:
    result = SyncResult(
        source_id="wiki", failed=1, errors=[DocError(doc_id=HOSTILE, reason="cannot fetch: <!here> broke")]
    )
    text = finished_text(result, 0)
    assert not any(bad in text for bad in (*FORBIDDEN, "<!here>"))
    assert "&lt;!channel&gt;" in text and "cannot fetch: &lt;!here&gt; broke" in text
    assert text.startswith("Sync of `wiki` finished")  # Lore's own formatting stays


async def test_the_admins_dm_about_a_hostile_file_name_pings_nobody(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    name = HOSTILE.replace("https://", "https:")  # a file name holds no '/'
    root = write_pages(
        tmp_path / "wiki", {"holidays.md": "# Holidays\n\n25 days of paid holiday.\n", name: ""}
    )
    async with SlackStandin() as slack:
        tuned = settings.model_copy(
            update={"slack_bot_token": SecretStr("xoxb-test"), "slack_api_url": slack.api_url}
        )
        async with world(tuned, embedder, tmp_path) as w:
            await w.registry.put(Source(id="wiki", location=[str(root)], access=["public"]))
            await run_sync(
                dataclasses.replace(w.context, notify=None), JobRequest(source_id="wiki", requested_by=ADMIN)
            )
        [dm] = slack.calls_to("chat.postMessage")
    text = dm.args["text"]
    assert dm.args["channel"] == ADMIN and "1 failed" in text and "empty file" in text
    assert not any(bad in text for bad in (*FORBIDDEN, "<https:evil.example|"))
    assert escape(name) in text
