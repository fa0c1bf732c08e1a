"""One small company for the permission matrix: who is who, what they may read, and how to tell a leak.

The finance page (`group:finance`) must reach exactly the people allowed to read it: Ana (in the Slack user
group `finance`) and Dora (in the directory file's `finance`, until she is revoked). Everyone else is a
kind of principal that must not: Bob (a member of the workspace, not of finance), Gus (a guest, listed in
the very groups that would leak), Olga (of another workspace, listed in them too), Hook (an integration's
bot user), and someone Slack does not know (anonymous).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.bot_harness import ANA, BOB
from tests.llm_standin import LLMStandin
from tests.slack_standin import SlackStandin

DORA, GUS, OLGA, HOOK, NOBODY = "UDORA", "UGUS", "UOLGA", "UHOOK", "UNOBODY"
QUESTION = "How big is the bonus pool of the finance team?"
SECRET = "Zorblax"  # only in the finance page's text (never in a question or a scripted LLM reply)
SECRET_TITLE = "Payroll calendar"
REPLY = "The pool is described in the sources [1]."  # the LLM stand-in's answer: it cites what it was given
ALLOWED = {ANA: "member", DORA: "member (directory)"}
DENIED = {
    BOB: "non-member",
    GUS: "guest in the finance groups",
    OLGA: "other workspace, in the finance groups",
    HOOK: "bot",
    NOBODY: "anonymous (unknown to Slack)",
}
EVERYONE = {**ALLOWED, **DENIED}


def people(slack: SlackStandin) -> None:
    """Add Dora, Gus, Olga, Hook to the stand-in's workspace (Ana and Bob are there); Gus and Olga join
    the Slack user group `finance`."""
    slack.add_user(DORA, "dora@example.com", name="dora")
    slack.add_user(GUS, "gus@partner.example", name="gus", is_restricted=True)
    slack.add_user(OLGA, "olga@example.com", name="olga", team_id="T2")
    slack.add_user(HOOK, None, name="hook", is_bot=True)
    slack.usergroups["S1"].users.extend([GUS, OLGA])


def write_directory(path: Path, *, dora: bool = True) -> Path:
    """The directory file: finance lists Gus and Olga (who still must not read it) and Dora until revoked."""
    members = ["gus@partner.example", "olga@example.com"] + (["dora@example.com"] if dora else [])
    path.write_text("groups:\n  finance: [" + ", ".join(members) + "]\n", encoding="utf-8")
    return path


def sent_to_llm(llm: LLMStandin) -> str:
    """Every message Lore sent to the LLM, as one string."""
    return json.dumps([r.get("messages") for r in llm.requests], ensure_ascii=False)


def leaked(text: str) -> bool:
    """True when `text` carries anything of the finance page."""
    return SECRET in text or SECRET_TITLE in text or "payroll.md" in text


def text_of(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


__all__ = ["ANA", "BOB", "DORA", "GUS", "HOOK", "NOBODY", "OLGA"]
