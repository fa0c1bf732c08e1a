"""Log lines: JSON objects with a request id per question or API call, and never a question, an answer or
a token at INFO and above."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from knowledge.kv.memory import MemoryStore
from knowledge.logs import handler, request_context
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import BOB, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

QUESTION = "How much are meals reimbursed on business trips?"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What Lore's JSON handler writes for INFO and above, from every logger, while the test runs."""
    out = io.StringIO()
    lines = handler("json", out)
    lines.setLevel(logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(lines)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(lines)
    root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_the_fields_and_the_request_id(json_lines: io.StringIO) -> None:
    log = logging.getLogger("lore.test")
    with request_context("abc123def456"):
        log.warning("one %s", "thing")
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("it failed")
    log.error("outside")
    inside, failed, outside = parsed(json_lines)
    assert inside["message"] == "one thing" and inside["level"] == "WARNING"
    assert inside["logger"] == "lore.test" and inside["request_id"] == "abc123def456"
    assert inside["time"].endswith("+00:00") and "T" in inside["time"]
    assert "ValueError: broken" in failed["exception"] and failed["request_id"] == "abc123def456"
    assert "request_id" not in outside


def test_the_cli_logs_json_when_asked_and_rejects_a_bad_format() -> None:
    script = (
        "from knowledge.logs import configure_logging, request_context; import logging;"
        "configure_logging('json', True);"
        "ctx = request_context('r1'); ctx.__enter__(); logging.getLogger('lore').info('hello')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    line = json.loads(done.stderr.splitlines()[-1])
    assert (line["message"], line["level"], line["request_id"]) == ("hello", "INFO", "r1")
    env = {**os.environ, "LORE_LOG_FORMAT": "xml"}
    bad = subprocess.run(
        [sys.executable, "-m", "lore.cli", "search", "x"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "invalid settings" in bad.stderr and "log_format" in bad.stderr


async def test_a_question_logs_its_request_id_but_not_its_text_or_the_token(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, json_lines: io.StringIO
) -> None:
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
    assert "75 euros" in reply.text
    lines = parsed(json_lines)
    [answered] = [line for line in lines if line["message"].startswith("answered")]
    assert f"ref={answered['request_id']}" in answered["message"]
    written = json_lines.getvalue()
    for secret in (QUESTION, "reimbursed", "75 euros", "xoxb-test", "test-signing-secret"):
        assert secret not in written
