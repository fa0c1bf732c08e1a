"""`/lore channel …`: admins set up how Lore answers in the channel they type it in (audited).

/lore channel                              this channel's setup
/lore channel sources wiki,support | all   the sources it answers from
/lore channel answers questions | mentions every question asked here, or only when mentioned
/lore channel private on | off             answers only the asker sees (they may share them)
/lore channel preset <text> | none         how answers are written here (tone, language; LLM only)
/lore channel reset                        back to Lore's behaviour without a setup
"""

from __future__ import annotations

import time

from bot.mrkdwn import clip, escape
from knowledge.audit import AuditEntry, AuditLog
from knowledge.channels import PRESET_CHARS, ChannelSetup, ChannelSetups
from knowledge.sources import Registry

USAGE = (
    "`/lore channel` | `/lore channel sources <source>,… | all` | "
    "`/lore channel answers questions | mentions` | `/lore channel private on | off` | "
    "`/lore channel preset <text> | none` | `/lore channel reset`"
)
SLACK_SOURCE = "slack"  # Slack's own messages (LORE_SEARCH_SLACK), which a channel may also answer from


class ChannelAdmin:
    """Reads and changes channel setups for `/lore channel` (the caller checked the user is an admin)."""

    def __init__(self, setups: ChannelSetups, registry: Registry, audit: AuditLog) -> None:
        self.setups = setups
        self.registry = registry
        self.audit = audit

    async def command(self, args: list[str], user: str, channel: str) -> str:
        """What to tell the admin; changes are kept and audited."""
        if not channel.startswith(("C", "G")):
            return f"Type `/lore channel …` in the channel to set up (not in a DM).\nUsage: {USAGE}"
        current = await self.setups.get(channel) or ChannelSetup(channel=channel)
        if not args:
            return described(current)
        what, rest = args[0].lower(), args[1:]
        try:
            changed = await self._changed(current, what, rest)
        except ValueError as exc:
            return f"{exc}\nUsage: {USAGE}"
        return "Saved. " + described(await self.save(changed, user, " ".join([what, *rest])))

    async def save(self, setup: ChannelSetup, user: str, detail: str) -> ChannelSetup:
        """Keep `setup` as set by `user` now, and audit it with `detail` (what was asked for)."""
        setup = setup.model_copy(update={"set_by": user, "at": time.time()})
        await self.setups.put(setup)
        await self.audit.record(
            AuditEntry(
                at=time.time(), who=user, action="channel", target=setup.channel, detail=clip(detail, 200)
            )
        )
        return setup

    async def form(self, values: dict[str, str], user: str) -> ChannelSetup | dict[str, str]:
        """The App Home form (bot/admin/channel_form.py), saved; or what is wrong, by block id."""
        channel = values.get("channel", "")
        if not channel.startswith(("C", "G")):
            return {"channel": "Pick a channel (not a DM)."}
        try:
            sources = await self._sources(values.get("sources", "") or "all")
        except ValueError as exc:
            return {"sources": str(exc)}
        preset = values.get("preset", "").strip()
        if len(preset) > PRESET_CHARS:
            return {"preset": f"Up to {PRESET_CHARS} characters."}
        answers = "questions" if values.get("answers") == "questions" else "mentions"
        setup = ChannelSetup(
            channel=channel,
            sources=sources,
            answers=answers,
            private=values.get("private") == "on",
            preset=preset,
        )
        detail = f"form: sources={','.join(sources) or 'all'} answers={answers} private={setup.private}"
        return await self.save(setup, user, detail + (f" preset={preset}" if preset else ""))

    async def _changed(self, current: ChannelSetup, what: str, rest: list[str]) -> ChannelSetup:
        if what == "reset" and not rest:
            return ChannelSetup(channel=current.channel)
        if what == "sources" and len(rest) == 1:
            return current.model_copy(update={"sources": await self._sources(rest[0])})
        if what == "answers" and rest in (["questions"], ["mentions"]):
            return current.model_copy(update={"answers": rest[0]})
        if what == "private" and rest in (["on"], ["off"]):
            return current.model_copy(update={"private": rest[0] == "on"})
        if what == "preset" and rest:
            preset = "" if rest == ["none"] else " ".join(rest)
            if len(preset) > PRESET_CHARS:
                raise ValueError(f"A preset may have up to {PRESET_CHARS} characters, not {len(preset)}.")
            return current.model_copy(update={"preset": preset})
        raise ValueError(f"I don't understand `{escape(' '.join([what, *rest]))}`.")

    async def _sources(self, given: str) -> list[str]:
        if given.lower() == "all":
            return []
        wanted = [s.strip() for s in given.split(",") if s.strip()]
        known = {r.source.id for r in await self.registry.all()} | {SLACK_SOURCE}
        if unknown := [s for s in wanted if s not in known]:
            raise ValueError(
                f"No source named {', '.join(escape(s) for s in unknown)}: `/lore sources` lists them."
            )
        return wanted


def described(setup: ChannelSetup) -> str:
    """One channel's setup in words."""
    sources = ", ".join(f"*{s}*" for s in setup.sources) or "every source"
    answers = "every question asked here" if setup.answers == "questions" else "when mentioned"
    private = "only the asker sees an answer (and may share it)" if setup.private else "answers in the thread"
    preset = f" · preset: _{escape(clip(setup.preset, 200))}_" if setup.preset else ""
    return f"<#{setup.channel}> answers from {sources} · {answers} · {private}{preset}"


def setups_text(setups: list[ChannelSetup]) -> str:
    """The channel setups, for `/lore sources` (admins)."""
    if not setups:
        return ""
    return "\n\n*Channel setups*\n" + "\n".join(f"• {described(s)}" for s in setups)
