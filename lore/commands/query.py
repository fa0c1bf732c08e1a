"""`lore search`, `lore ask` and `lore chat`: the answering pipeline from the terminal."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from knowledge.access import Directory, Principal
from knowledge.answering.answerer import Delta, Final
from knowledge.answering.sentences import snippet
from knowledge.models import Answer
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.commands.host import Host, LocalHost, Terminal

CHAT_BANNER = """Lore — terminal chat over {count} indexed chunks, answering as {who}.
Answers are {mode}. Type a question; an empty line or Ctrl-D quits.
  • Connect an LLM: set LORE_LLM_BASE_URL (any OpenAI-compatible /v1 endpoint), LORE_LLM_MODEL and
    LORE_LLM_API_KEY.
  • Connect Slack: create the app from deploy/slack-manifest.yml, set SLACK_BOT_TOKEN and SLACK_APP_TOKEN,
    then run `lore bot` (README, "Connect to Slack")."""


def principal_of(args: argparse.Namespace, settings: Settings) -> Principal:
    """The principal named by --groups/--user (anonymous `{public}` without them)."""
    groups = [g for g in args.groups.split(",") if g.strip()]
    directory = Directory.load(settings.directory_file) if args.user else None
    return Principal.of(groups=groups, user=args.user, directory=directory)


async def search(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """Print the best snippets (or `{"results": [...]}` with --json; one line per query with '-')."""
    host = host or LocalHost(settings)
    terminal, out = host.terminal, host.terminal.out
    who = principal_of(args, settings)
    async with host.knowledge() as kb:
        if args.query == "-":
            async for query in terminal.lines():
                results = await kb.search(query, who, k=args.k)
                found = {"query": query, "results": [r.model_dump() for r in results]}
                print(json.dumps(found, ensure_ascii=False), file=out, flush=True)
            return 0
        results = await kb.search(args.query, who, k=args.k)
    if args.json:
        print(json.dumps({"results": [r.model_dump() for r in results]}, ensure_ascii=False), file=out)
        return 0
    if not results:
        print("nothing found in what you can access", file=out)
    for n, r in enumerate(results, 1):
        print(f"{n}. {r.title} — {r.source}/{r.doc_id}  (score {r.score:.3f})\n   {r.url}", file=out)
        print("   " + snippet(r.text, args.query), file=out)  # the window is wide: show where it matches
    return 0


async def ask(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """Print a cited answer, streamed as it is written (or the `lore ask --json` object)."""
    host = host or LocalHost(settings)
    out = host.terminal.out
    who = principal_of(args, settings)
    async with host.knowledge() as kb:
        if args.query == "-":
            async for question in host.terminal.lines():
                answer = await kb.ask(question, who)
                found = {"question": question, **answer.model_dump()}
                print(json.dumps(found, ensure_ascii=False), file=out, flush=True)
            return 0
        if args.json:
            print((await kb.ask(args.query, who)).model_dump_json(), file=out)
            return 0
        await _stream_answer(kb, args.query, who, [], out)
    return 0


async def _stream_answer(
    kb: Knowledge, question: str, who: Principal, history: list[tuple[str, str]], out: TextIO
) -> Answer:
    final: Answer | None = None
    shown = ""
    async for event in kb.ask_stream(question, who, history=history):
        if isinstance(event, Delta) and event.text:
            shown += event.text
            print(event.text, end="", file=out, flush=True)
        elif isinstance(event, Final):
            final = event.answer
    assert final is not None, "the answerer always ends with a Final event"
    if final.answer.strip() != shown.strip():  # the LLM failed mid-answer, or cited nothing: replace it
        print("\n\n(replaced:)\n" + final.answer if shown else final.answer, end="", file=out)
    print(file=out)
    print(render_sources(final), file=out)
    if final.skipped:
        print(f"(not searched this time: {', '.join(final.skipped)} did not answer in time)", file=out)
    return final


def render_sources(answer: Answer) -> str:
    """The Sources block of a terminal answer."""
    if not answer.citations:
        return ""
    lines = ["", "Sources:" if answer.mode != "no_answer" else "Closest sources:"]
    for c in answer.citations:
        lines.append(f"  [{c.n}] {c.title} — {c.source}/{c.doc_id}  {c.url}")
    return "\n".join(lines)


async def chat(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """A terminal chat: follow-ups see the conversation so far."""
    host = host or LocalHost(settings)
    out = host.terminal.out
    who = principal_of(args, settings)
    async with host.knowledge() as kb:
        mode = (
            f"written by {settings.llm_model} at {settings.llm_base_url}"
            if settings.llm_base_url
            else "extractive (the best sentences of the top sources, cited) because no LLM is configured"
        )
        count = await kb.index.count()
        print(CHAT_BANNER.format(count=count, who=", ".join(who.sorted()), mode=mode), file=out)
        history: list[tuple[str, str]] = []
        while question := await _prompt(host.terminal, "\nyou> "):
            print("lore> ", end="", file=out, flush=True)
            answer = await _stream_answer(kb, question, who, history, out)
            history = [*history, (question, answer.answer)][-5:]
    return 0


async def _prompt(terminal: Terminal, prompt: str) -> str:
    """The next line typed after `prompt`, stripped; '' at the end of input."""
    print(prompt, end="", file=terminal.out, flush=True)
    return (await terminal.readline()).strip()
