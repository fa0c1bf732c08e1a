from typing import Any

import pytest

from bot.events import Asked, Surface, from_person, mentioned, read_event

LORE = "UBOT"


def message(**fields: Any) -> dict[str, Any]:
    """A person's channel message event, with `fields` changed."""
    return {
        "type": "message",
        "user": "UANA",
        "text": "What is the travel policy?",
        "ts": "1700000000.000100",
        "channel": "C1",
        "channel_type": "channel",
        "team": "T1",
    } | fields


def read(event: dict[str, Any], surface: Surface = "mention", bot_user_id: str | None = LORE) -> Asked | None:
    return read_event(event, surface=surface, team="T1", bot_user_id=bot_user_id, event_id="Ev1")


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("<@UBOT> What is the travel policy?", "What is the travel policy?"),
        ("<@UBOT|lore>   What is the travel policy?  ", "What is the travel policy?"),
        ("What is the travel policy? <@UBOT>", "What is the travel policy?"),
        ("<@UBOT> what does <@UANA> approve?", "what does <@UANA> approve?"),
        ("Ask <@UCARL> <@UBOT>", "Ask <@UCARL>"),
        ("no mention at all", "no mention at all"),
    ],
)
def test_read_event_strips_only_lores_mention(text: str, question: str) -> None:
    asked = read(message(text=text))
    assert asked is not None and asked.text == question


@pytest.mark.parametrize(
    "event",
    [
        message(text="<@UBOT>"),
        message(text="<@UBOT|lore>  "),
        message(text="   "),
        message(text=""),
        message(text=None),
        message(user=LORE),
        message(bot_id="B123"),
        message(bot_profile={"id": "B123"}),
        message(subtype="bot_message"),
        message(subtype="message_changed"),
        message(subtype="message_deleted"),
        message(subtype="channel_join"),
        message(user=None),
    ],
)
def test_read_event_ignores(event: dict[str, Any]) -> None:
    assert read(event) is None


def test_read_event_reads_the_question() -> None:
    asked = read(message(text="<@UBOT> How much for hotels?", team="T9"), surface="mention")
    assert asked == Asked(
        team="T1",  # the workspace, not the team of a Slack Connect guest
        channel="C1",
        channel_type="channel",
        user="UANA",
        text="How much for hotels?",
        ts="1700000000.000100",
        thread_ts="1700000000.000100",
        surface="mention",
        event_id="Ev1",
    )
    assert not asked.private


def test_read_event_keeps_the_thread() -> None:
    asked = read(message(thread_ts="1699999999.000001"), surface="follow_up")
    assert asked is not None and asked.thread_ts == "1699999999.000001" and asked.ts == "1700000000.000100"


@pytest.mark.parametrize(
    ("surface", "channel_type", "read_type", "private"),
    [
        ("mention", None, "channel", False),
        ("follow_up", "group", "group", False),
        ("dm", None, "im", True),
        ("assistant", None, "im", True),
        ("mention", "im", "im", True),
    ],
)
def test_channel_type_and_privacy(
    surface: Surface, channel_type: str | None, read_type: str, private: bool
) -> None:
    asked = read(message(channel_type=channel_type), surface=surface)
    assert asked is not None and (asked.channel_type, asked.private) == (read_type, private)


def test_without_bot_user_id_text_is_kept_whole() -> None:
    asked = read(message(text=" <@UBOT> hi "), bot_user_id=None)
    assert asked is not None and asked.text == "<@UBOT> hi"


@pytest.mark.parametrize(
    ("text", "users"),
    [
        ("<@UBOT> hi", {"UBOT"}),
        ("<@UBOT|lore> ask <@UANA> and <@W0ENTERPRISE>, <@UANA>", {"UBOT", "UANA", "W0ENTERPRISE"}),
        ("<!here> <#C123|general> <@bot> <@B123>", set()),
        ("", set()),
    ],
)
def test_mentioned(text: str, users: set[str]) -> None:
    assert mentioned(text) == users


@pytest.mark.parametrize(
    ("event", "person"),
    [
        (message(), True),
        (message(subtype="file_share"), True),
        (message(subtype="thread_broadcast"), True),
        (message(subtype="channel_leave"), False),
        (message(subtype="bot_message"), False),
        (message(bot_id="B1"), False),
        (message(bot_profile={"id": "B1"}), False),
        (message(user=LORE), False),
        (message(user=""), False),
    ],
)
def test_from_person(event: dict[str, Any], person: bool) -> None:
    assert from_person(event, LORE) is person


def test_from_person_without_bot_user_id() -> None:
    assert from_person(message(user=LORE), None)
