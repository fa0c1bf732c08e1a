"""Lore's Home tab as an admin or anyone else sees it: the sources (all of them with their health for
admins, the readable ones for the others), and for admins the channels' setups and the feedback review."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.admin import views
from bot.admin.channel_form import channel_button
from bot.admin.channel_setup import described
from bot.admin.feedback_view import feedback_blocks, readable_citations
from bot.admin.views import Block
from bot.feedback_review import review
from bot.home import home_view
from knowledge.channels import ChannelSetup
from knowledge.sources import SourceRecord

if TYPE_CHECKING:
    from bot.admin.slash import SourceAdmin

log = logging.getLogger(__name__)


class HomeTab:
    """Draws one person's Home tab with what `admin` (the `/lore` side) holds."""

    def __init__(self, admin: SourceAdmin) -> None:
        self.admin = admin

    async def publish(self, team: str, user: str) -> None:
        """Draw `user`'s Home tab: every source's health for admins, readable sources for the others."""
        a = self.admin
        is_admin = await a.admins.check(team, user)
        records: list[SourceRecord] | None = None
        if a.registry is not None:
            try:
                records = await a.registry.all()
                if not is_admin:
                    records = await views.known_to(records, await a.identity.principal(team, user), a.index)
            except Exception:
                log.exception("sources not shown on %s's Home", user)
                records = None  # never the unfiltered list: the principal may be what failed
        extra = await self._admin_blocks(team, user) if is_admin else None
        view = home_view(records, time.time(), admin=is_admin, configured=a.configured, feedback=extra)
        try:
            await a.client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("App Home not published: %s", exc.response.get("error"))

    async def _admin_blocks(self, team: str, user: str) -> list[Block] | None:
        """The channels' setups, then the feedback review."""
        blocks: list[Block] = []
        if self.admin.channels is not None:
            setups = await self._setups()
            lines = [f"• {described(s)}" for s in setups] or ["None yet: every channel answers as usual."]
            text = "*Channel setups*\n" + "\n".join(lines)
            section = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
            blocks.append(section | {"accessory": channel_button()})
        blocks += await self._feedback_review(team, user) or []
        return blocks or None

    async def _setups(self) -> list[ChannelSetup]:
        if self.admin.channels is None:
            return []
        try:
            return await self.admin.channels.setups.all()
        except Exception:
            log.exception("channel setups not shown on the Home tab")
            return []

    async def _feedback_review(self, team: str, user: str) -> list[Block] | None:
        """The feedback review of an admin's Home; its sources only where this admin may read them."""
        a = self.admin
        if a.feedback is None:
            return None
        now = time.time()
        try:
            found = await review(a.feedback.store, now)
            principal = await a.identity.principal(team, user)
            readable = await readable_citations(found, principal, a.index) if a.index else set()
        except Exception:
            log.exception("feedback not shown on %s's Home", user)
            return feedback_blocks(None, set(), now)
        return feedback_blocks(found, readable, now)
