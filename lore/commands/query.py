"""`lore search`, `lore ask` and `lore chat`: the answering pipeline from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator

from knowledge.access import Directory, Principal
from knowledge.answering.answerer import Delta, Final
from knowledge.answering.sentences import snippet
from knowledge.models import Answer
from knowledge.service import Knowledge
from knowledge.settings import Settings

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


async def _lines() -> AsyncIterator[str]:
    while line := await asyncio.to_thread(sys.stdin.readline):
        if line.strip():
            yield line.strip()


async def search(args: argparse.Namespace, settings: Settings) -> int:
    """Print the best snippets (or `{"results": [...]}` with --json; one line per query with '-')."""
    who = principal_of(args, settings)
    async with await Knowledge.open(settings) as kb:
        if args.query == "-":
            async for query in _lines():
                results = await kb.search(query, who, k=args.k)
                print(
                    json.dumps(
                        {"query": query, "results": [r.model_dump() for r in results]}, ensure_ascii=False
                    ),
                    flush=True,
                )
            return 0
        results = await kb.search(args.query, who, k=args.k)
    if args.json:
        print(json.dumps({"results": [r.model_dump() for r in results]}, ensure_ascii=False))
        return 0
    if not results:
        print("nothing found in what you can access")
    for n, r in enumerate(results, 1):
        print(f"{n}. {r.title} — {r.source}/{r.doc_id}  (score {r.score:.3f})\n   {r.url}")
        print("   " + snippet(r.text, args.query))  # the window is wide: show where it matches
    return 0


async def ask(args: argparse.Namespace, settings: Settings) -> int:
    """Print a cited answer, streamed as it is written (or the `lore ask --json` object)."""
    who = principal_of(args, settings)
    async with await Knowledge.open(settings) as kb:
        if args.query == "-":
            async for question in _lines():
                answer = await kb.ask(question, who)
                print(
                    json.dumps({"question": question, **answer.model_dump()}, ensure_ascii=False), flush=True
                )
            return 0
        if args.json:
            print((await kb.ask(args.query, who)).model_dump_json())
            return 0
        await _stream_answer(kb, args.query, who, [])
    return 0


async def _stream_answer(
    kb: Knowledge, question: str, who: Principal, history: list[tuple[str, str]]
) -> Answer:
    final: Answer | None = None
    shown = ""
    async for event in kb.ask_stream(question, who, history=history):
        if isinstance(event, Delta) and event.text:
            shown += event.text
            print(event.text, end="", flush=True)
        elif isinstance(event, Final):
            final = event.answer
    assert final is not None, "the answerer always ends with a Final event"
    if final.answer.strip() != shown.strip():  # the LLM failed mid-answer, or cited nothing: replace it
        print("\n\n(replaced:)\n" + final.answer if shown else final.answer, end="")
    print()
    print(render_sources(final))
    if final.skipped:
        print(f"(not searched this time: {', '.join(final.skipped)} did not answer in time)")
    return final


def render_sources(answer: Answer) -> str:
    """The Sources block of a terminal answer."""
    if not answer.citations:
        return ""
    lines = ["", "Sources:" if answer.mode != "no_answer" else "Closest sources:"]
    for c in answer.citations:
        lines.append(f"  [{c.n}] {c.title} — {c.source}/{c.doc_id}  {c.url}")
    return "\n".join(lines)


async def chat(args: argparse.Namespace, settings: Settings) -> int:
    """A terminal chat: follow-ups see the conversation so far."""
    who = principal_of(args, settings)
    async with await Knowledge.open(settings) as kb:
        mode = (
            f"written by {settings.llm_model} at {settings.llm_base_url}"
            if settings.llm_base_url
            else "extractive (the best sentences of the top sources, cited) because no LLM is configured"
        )
        print(CHAT_BANNER.format(count=await kb.index.count(), who=", ".join(who.sorted()), mode=mode))
        history: list[tuple[str, str]] = []
        while True:
            try:
                question = (await asyncio.to_thread(input, "\nyou> ")).strip()
            except EOFError:
                break
            if not question:
                break
            print("lore> ", end="", flush=True)
            answer = await _stream_answer(kb, question, who, history)
            history = [*history, (question, answer.answer)][-5:]
    return 0
