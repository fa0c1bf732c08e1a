"""The add-source modal, opened by `/lore add` (without a one-line source) or the Home tab's "Add a source"
button: drawn for the kind chosen, redrawn when the kind changes, checked on submit (errors go back into the
form), and carried out by `SourceAdmin.add` (registered, audited, first sync queued)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.admin import views
from bot.admin.source_fields import ID, KINDS, first_kind
from bot.admin.source_input import FormError
from bot.admin.source_input import source_from_fields as parse_source
from bot.admin.views import KIND_BLOCK
from bot.home import NOT_CONFIGURED
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import Source

if TYPE_CHECKING:
    from bot.admin.slash import SourceAdmin

log = logging.getLogger(__name__)

FAILED = (
    "Sorry, that failed on my side (reference {ref}). Try again in a minute; if it keeps failing, tell "
    "whoever runs Lore and quote the reference."
)


def bounded(source: Source, settings: Settings) -> Source:
    """`source`, unless it reaches beyond what a Slack admin may point Lore at (secrets, hosts and folders
    the operator has not set aside; knowledge/source_policy.py): then `FormError`."""
    if refused := refusals(source, settings, from_slack=True):
        raise FormError(refused)
    return source


class AddForm:
    """The modal's three moments, with what `admin` (the `/lore` side) holds."""

    def __init__(self, admin: SourceAdmin) -> None:
        self.admin = admin

    async def submit(self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        """A submitted add form: errors go back into the modal; a good one closes it and is carried out."""
        admin = self.admin
        view = body.get("view") or {}
        team, user = views.who(body, admin.team_id)
        metadata = views.metadata(view)
        try:
            checked = await self._check(team, user, metadata.get("kind", ""), view)
        except Exception:
            log.exception("add form of %s not checked", user)
            checked = {KIND_BLOCK: "I can't reach the source registry right now: try again in a minute."}
        if not isinstance(checked, Source):
            await ack(response_action="errors", errors=checked)
            return
        await ack()
        try:
            text = await admin.add(checked, user)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("adding %s for %s failed (ref=%s)", checked.id, user, ref)
            text = FAILED.format(ref=ref)
        await admin.tell(user, text)
        if metadata.get("origin") == "home":
            await admin.publish_home(team, user)

    async def _check(self, team: str, user: str, kind: str, view: dict[str, Any]) -> Source | dict[str, str]:
        """The source the form describes, or error messages by block_id."""
        admin = self.admin
        if admin.registry is None or not admin.configured:
            return {KIND_BLOCK: NOT_CONFIGURED}
        if not await admin.admins.check(team, user):
            return {KIND_BLOCK: admin.admins.refusal("add sources")}
        try:
            source = bounded(parse_source(kind, views.form_values(view), added_by=user), admin.settings)
        except FormError as exc:
            return {KIND_BLOCK if k == "kind" else k: v for k, v in exc.errors.items()}
        if await admin.registry.get(source.id) is not None:
            return {ID: views.taken(source.id)}
        return source

    async def open_from_home(self, body: dict[str, Any]) -> None:
        """The Home tab's "Add a source" button: the same form as `/lore add`."""
        admin = self.admin
        team, user = views.who(body, admin.team_id)
        if not admin.configured or not await admin.admins.check(team, user):
            await admin.publish_home(team, user)  # only admins see the button: this Home is stale
            return
        view = views.add_modal(first_kind(), {"origin": "home"})
        try:
            await admin.client.views_open(trigger_id=str(body.get("trigger_id")), view=view)
        except SlackApiError as exc:
            log.warning("add form not opened: %s", exc.response.get("error"))

    async def change_kind(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Redraw the modal with the fields of the kind just chosen."""
        view = body.get("view") or {}
        kind = str((action.get("selected_option") or {}).get("value"))
        if kind not in KINDS:
            return
        try:
            redrawn = views.add_modal(kind, views.metadata(view))
            await self.admin.client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=redrawn)
        except SlackApiError as exc:
            log.warning("add form not redrawn: %s", exc.response.get("error"))
