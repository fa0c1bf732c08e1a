"""The kinds of source beyond folders: what each accepts (locations, options, where access comes from),
the `/lore add` line and modal of each, the directory's account mappings, and a listing that cannot
succeed (missing credentials, an unknown kind) failing once, clearly, without pruning or retrying."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.admin.source_fields import KINDS
from bot.admin.source_input import FormError, fields_from_line, source_from_fields
from bot.admin.views import add_modal, audit_detail, described, form_values
from ingestion.connectors.base import ListingError
from ingestion.connectors.registry import connector_for
from ingestion.sync import SyncResult
from ingestion.worker import WorkerContext, run_sync
from knowledge.access import Directory
from knowledge.jobs import JobRequest
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry
from tests.conftest import flushed_redis


def line(text: str) -> Source:
    kind, values = fields_from_line(text.split())
    return source_from_fields(kind, values, added_by="U1")


@pytest.mark.parametrize(
    ("text", "kind", "location", "access", "options"),
    [
        (
            "smb share smb://files.corp/public/handbook user=CORP\\svc-lore credentials=SHARE_PASSWORD",
            "smb",
            ["smb://files.corp/public/handbook"],
            [],
            {"user": "CORP\\svc-lore"},
        ),
        (
            "smb share \\\\files.corp\\public\\handbook user=svc-lore credentials=/run/secrets/share",
            "smb",
            ["smb://files.corp/public/handbook"],
            [],
            {"user": "svc-lore"},
        ),
        (
            "mediawiki wiki https://wiki.corp/w/api.php access=public namespaces=0,4,4 override=4:group:x",
            "mediawiki",
            ["https://wiki.corp/w/api.php"],
            ["public"],
            {"namespaces": "0,4"},
        ),
        (
            "confluence conf https://corp.atlassian.net/wiki/ user=bot@corp.com credentials=C spaces=ENG,HR",
            "confluence",
            ["https://corp.atlassian.net/wiki"],
            [],
            {"user": "bot@corp.com", "spaces": "ENG,HR"},
        ),
        (
            "web docs https://docs.corp/guide/ access=group:staff max_pages=0050",
            "web",
            ["https://docs.corp/guide/"],
            ["group:staff"],
            {"max_pages": "50"},
        ),
    ],
)
def test_each_kind_is_added_with_one_line(
    text: str, kind: str, location: list[str], access: list[str], options: dict[str, str]
) -> None:
    source = line(text)
    assert (source.kind, source.location, source.access, source.options) == (kind, location, access, options)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("smb share smb://files.corp/public credentials=PW", "user", "Required"),
        ("smb share /mnt/share user=svc credentials=PW", "location", "smb://server/share"),
        (
            "mediawiki wiki https://wiki.corp/w/api.php access=public namespaces=main",
            "namespaces",
            "namespace",
        ),
        ("mediawiki wiki ftp://wiki.corp/api.php access=public", "location", "api.php URL"),
        ("confluence conf https://corp.atlassian.net/wiki spaces=ENG", "credentials", "Required"),
        ("confluence conf https://corp.atlassian.net/wiki credentials=T spaces=E-NG", "spaces", "space keys"),
        ("web docs https://docs.corp/ access=public max_pages=lots", "max_pages", "number of pages"),
        ("web docs https://docs.corp/ max_pages=5", "access", "Required"),
    ],
)
def test_each_kind_says_which_field_is_wrong(text: str, field: str, message: str) -> None:
    kind, values = fields_from_line(text.split())
    with pytest.raises(FormError) as caught:
        source_from_fields(kind, values, added_by="U1")
    assert message in caught.value.errors[field]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smb share smb://f/s user=svc credentials=PW access=public", "unknown option 'access'"),
        ("web docs https://docs.corp/ access=public credentials=TOKEN", "unknown option 'credentials'"),
        ("web docs https://docs.corp/ access=public spaces=ENG", "use access=, every=, ceiling=, max_pages="),
    ],
)
def test_options_of_other_kinds_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fields_from_line(text.split())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "smb", "location": ["smb://f/s"], "access": [], "options": {"user": "svc"}}, "credentials"),
        (
            {"kind": "smb", "location": ["smb://f/s"], "access": [], "credentials": {"env": "P"}},
            "needs user=",
        ),
        (
            {"kind": "smb", "location": ["smb://f/s"], "access": ["public"], "credentials": {"env": "PW"}},
            "directory file",
        ),
        ({"kind": "web", "location": ["https://d/"], "options": {"user": "x"}}, "unknown option 'user'"),
        ({"kind": "web", "location": ["https://d/"], "credentials": {"env": "PW"}}, "takes no credentials"),
        ({"kind": "mediawiki", "location": ["https://a/api.php", "https://b/api.php"]}, "one location"),
    ],
)
def test_the_model_enforces_each_kinds_rules(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Source.model_validate({"id": "s", "location": ["/srv"], "access": ["public"], **changes})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_modal_of_each_kind_asks_for_its_fields(kind: str) -> None:
    view = add_modal(kind, {"channel": "C1"})
    blocks = {b.get("block_id") for b in view["blocks"]}
    assert {f.name for f in KINDS[kind].fields} <= blocks
    assert ("access" in blocks) == (kind not in ("smb", "confluence"))


def test_the_directory_maps_source_accounts_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(
        "groups: {finance: [ana@example.com]}\n"
        'accounts: {"S-1-22-2-2001": [Group:Finance], Staff: [public]}\n'
    )
    directory = Directory.load(path)
    assert directory.access_of("s-1-22-2-2001") == ["group:finance"]
    assert directory.access_of("STAFF") == ["public"]
    assert directory.access_of("S-1-1-0") == []
    with pytest.raises(ValidationError, match="invalid access 'everyone'"):
        Directory.model_validate({"accounts": {"x": ["everyone"]}})


def test_the_summary_tells_what_nobody_can_read_and_the_connectors_notes() -> None:
    result = SyncResult(source_id="share", added=3, unreadable=2, notes=["page budget of 5 pages reached"])
    text = result.line()
    assert "page budget of 5 pages reached" in text
    assert "2 readable by nobody" in text and "accounts:" in text
    assert "readable by nobody" not in SyncResult(source_id="share", added=3).line()


def test_a_connector_that_cannot_be_built_fails_like_a_listing(settings: Settings) -> None:
    share = Source(
        id="share",
        kind="smb",
        location=["smb://127.0.0.1/share"],
        access=[],
        options={"user": "svc"},
        credentials={"env": "LORE_SECRET_TEST_UNSET_PASSWORD"},  # type: ignore[arg-type]
    )
    with pytest.raises(ListingError, match="LORE_SECRET_TEST_UNSET_PASSWORD is not set") as caught:
        connector_for(share, settings)
    assert caught.value.retryable is False
    odd = Source(id="odd", kind="sharepoint", location=["https://sp"], access=["public"])
    with pytest.raises(ListingError, match="no connector for kind 'sharepoint'"):
        connector_for(odd, settings)


async def test_a_listing_that_cannot_succeed_is_recorded_once_without_retrying(
    settings: Settings, redis_url: str, engine: object
) -> None:
    store = await flushed_redis(redis_url)
    registry = StoreRegistry(store)
    await registry.put(
        Source(
            id="share",
            kind="smb",
            location=["smb://127.0.0.1/share"],
            access=[],
            options={"user": "svc"},
            credentials={"env": "LORE_SECRET_TEST_UNSET_PASSWORD"},  # type: ignore[arg-type]
        )
    )
    context = WorkerContext(settings=settings, engine=engine, registry=registry, notify=_quiet)  # type: ignore[arg-type]
    delay = await run_sync(dataclasses.replace(context), JobRequest(source_id="share"), retry=True)
    record = await registry.get("share")
    await store.close()
    assert delay is None  # not retried: waiting cannot set a variable
    assert record is not None and record.status.ok is False
    assert "LORE_SECRET_TEST_UNSET_PASSWORD is not set" in record.status.summary


async def _quiet(user_id: str | None, text: str) -> None:
    return None


def test_admins_see_a_kinds_options_and_where_its_access_comes_from() -> None:
    share = line("smb share smb://files.corp/public user=svc-lore credentials=SHARE_PASSWORD every=6h")
    shown = described(share)
    assert "user=svc-lore" in shown and "own permissions" in shown and "`SHARE_PASSWORD`" in shown
    audited = "smb smb://files.corp/public user=svc-lore every 6h credentials=SHARE_PASSWORD"
    assert audit_detail(share) == audited


def test_a_kinds_options_typed_into_the_modal_reach_the_source() -> None:
    view = add_modal("confluence", {"channel": "C1"})
    typed = {
        "source_id": "conf",
        "location": "https://corp.atlassian.net/wiki/",
        "spaces": "ENG, HR",
        "user": "bot@corp.com",
        "credentials": "CONFLUENCE_TOKEN",
        "every": "6h",
    }
    inputs = [b for b in view["blocks"] if b.get("block_id") in typed]
    view["state"] = {
        "values": {
            b["block_id"]: {b["element"]["action_id"]: {"value": typed[b["block_id"]]}} for b in inputs
        }
    }
    source = source_from_fields("confluence", form_values(view), added_by="U1")
    assert source.options == {"spaces": "ENG,HR", "user": "bot@corp.com"}
    assert (source.location, source.access, source.every) == (["https://corp.atlassian.net/wiki"], [], 21600)
