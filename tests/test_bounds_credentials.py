"""A source's credentials name only LORE_SECRET_… variables or files inside LORE_SECRETS_DIR: refused when a
source is added (Slack and terminal), and again when the secret is read, so an entry written before this
rule, or by hand, cannot make Lore read /etc/shadow or send LORE_LLM_API_KEY anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.connectors.base import ListingError
from ingestion.connectors.registry import connector_for
from knowledge.access import Principal
from knowledge.federation import Federation
from knowledge.hosts import HostGuard
from knowledge.service import Knowledge
from knowledge.settings import Settings, unknown_names
from knowledge.sources import Credentials, CredentialsError, FileRegistry, Source
from tests.bounds_harness import admin_bot
from tests.recording_server import RecordingServer, json_reply
from tests.slack_standin import SlackStandin
from tests.test_admin import CARL_ADMIN, said
from tests.test_cli import lore

LLM_KEY = "sk-the-servers-own-llm-key"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """LORE_SECRETS_DIR with one secret, and a secret outside it that a link inside points at."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "wiki").write_text("wiki-secret\n")
    (tmp_path / "shadow").write_text("root:$6$hash\n")
    (folder / "escape").symlink_to(tmp_path / "shadow")
    return folder


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ("LORE_SECRET_WIKI", True),
        ("LORE_LLM_API_KEY", False),
        ("SLACK_BOT_TOKEN", False),
        ("WIKI_TOKEN", False),
        ("LORE_SECRET_", False),
    ],
)
def test_only_lore_secret_variables_may_be_named(env: str, allowed: bool) -> None:
    why = Credentials(env=env).refusal(None)
    assert (why is None) is allowed
    if not allowed:
        assert why is not None and "LORE_SECRET_" in why


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("wiki", True), ("../shadow", False), ("escape", False), ("/etc/shadow", False)],
)
def test_only_files_inside_the_secrets_folder_may_be_named(secrets: Path, name: str, allowed: bool) -> None:
    path = name if name.startswith("/") else str(secrets / name)
    credentials = Credentials(file=path)
    assert (credentials.refusal(secrets) is None) is allowed
    if allowed:
        assert credentials.resolve(secrets) == "wiki-secret"
    else:
        with pytest.raises(CredentialsError, match="outside LORE_SECRETS_DIR"):
            credentials.resolve(secrets)


def test_without_a_secrets_folder_no_file_is_read(secrets: Path) -> None:
    with pytest.raises(CredentialsError, match="LORE_SECRETS_DIR"):
        Credentials(file=str(secrets / "wiki")).resolve(None)


def test_a_forbidden_variable_is_refused_when_read_even_though_it_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LORE_LLM_API_KEY", LLM_KEY)
    with pytest.raises(CredentialsError) as refused:
        Credentials(env="LORE_LLM_API_KEY").resolve(None)
    assert LLM_KEY not in str(refused.value)
    monkeypatch.setenv("LORE_SECRET_WIKI", "fine")
    assert Credentials(env="LORE_SECRET_WIKI").resolve(None) == "fine"


async def test_an_old_registry_entry_cannot_send_the_servers_key_to_a_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As written before the rule (or by hand): a remote whose key is LORE_LLM_API_KEY. The remote is never
    sent that key; a remote naming a LORE_SECRET_ variable gets its key (the positive control)."""
    monkeypatch.setenv("LORE_LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("LORE_SECRET_HQ", "the-remote-key")
    async with RecordingServer() as remote:
        remote.route("/v1/search", json_reply({"results": []}))
        registry = FileRegistry(tmp_path / "sources.json")
        for name, env in (("stolen", "LORE_LLM_API_KEY"), ("hq", "LORE_SECRET_HQ")):
            source = Source(
                id=name,
                kind="lore-remote",
                location=[remote.origin],
                access=["public"],
                credentials=Credentials(env=env),
            )
            await registry.put(source)
        federation = Federation(registry, 5.0, guard=HostGuard(["127.0.0.1"]))
        found = await federation.search("anything", Principal.anonymous(), 3)
        await federation.close()
    assert found.skipped == ["stolen"]
    assert [s.headers.get("Authorization") for s in remote.seen] == ["Bearer the-remote-key"]
    assert not remote.sent_anything(LLM_KEY)


def test_an_old_registry_entry_cannot_read_a_file_outside_the_secrets_folder(
    settings: Settings, secrets: Path
) -> None:
    wiki = Source(
        id="wiki",
        kind="mediawiki",
        location=["https://wiki.example.com/w/api.php"],
        access=["public"],
        options={"user": "Lore@sync"},
        credentials=Credentials(file=str(secrets / "escape")),
    )
    with pytest.raises(ListingError, match="outside LORE_SECRETS_DIR") as refused:
        connector_for(wiki, settings.model_copy(update={"secrets_dir": secrets}))
    assert refused.value.retryable is False and "root:" not in str(refused.value)
    inside = wiki.model_copy(update={"credentials": Credentials(file=str(secrets / "wiki"))})
    assert connector_for(inside, settings.model_copy(update={"secrets_dir": secrets}))


@pytest.mark.parametrize(
    ("credentials", "refused"),
    [
        ("LORE_LLM_API_KEY", "is not a source secret"),
        ("CONFLUENCE_TOKEN", "LORE_SECRET_CONFLUENCE_TOKEN"),
        ("/etc/shadow", "outside LORE_SECRETS_DIR"),
        ("LORE_SECRET_CONFLUENCE", None),
    ],
)
async def test_slack_admins_may_name_only_source_secrets(
    loaded_kb: Knowledge,
    settings: Settings,
    slack: SlackStandin,
    secrets: Path,
    credentials: str,
    refused: str | None,
) -> None:
    line = f"add confluence wiki https://corp.atlassian.net/wiki user=bot@corp.com credentials={credentials}"
    async with admin_bot(loaded_kb, settings, slack, secrets_dir=secrets) as lore:
        reply = await said(lore, CARL_ADMIN, line)
        await lore.done()
        added = await lore.registry.all()
        audited = await lore.audit.latest()
    if refused is None:
        assert "Added *wiki*" in reply and len(added) == len(audited) == 1
    else:
        assert refused in reply and "`credentials=`" in reply
        assert added == [] and audited == [] and lore.worker.synced == []


async def test_the_add_form_refuses_a_file_outside_the_secrets_folder(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, secrets: Path
) -> None:
    async with admin_bot(loaded_kb, settings, slack, secrets_dir=secrets) as lore:
        await lore.bot.command(CARL_ADMIN, "add confluence")
        [opened] = await lore.bot.slack.wait_for("views.open")
        typed = {"source_id": "wiki", "location": "https://corp.atlassian.net/wiki", "user": "bot@corp.com"}
        _, body = await lore.bot.submit_view(
            CARL_ADMIN, opened.args["view"], typed | {"credentials": str(secrets / "escape")}
        )
        assert (
            list(body["errors"]) == ["credentials"]
            and "outside LORE_SECRETS_DIR" in body["errors"]["credentials"]
        )
        assert await lore.registry.all() == []
        _, body = await lore.bot.submit_view(
            CARL_ADMIN, opened.args["view"], typed | {"credentials": str(secrets / "wiki")}
        )
        assert body == {} and [r.source.id for r in await lore.registry.all()] == ["wiki"]


def test_the_terminal_refuses_them_too(tmp_path: Path) -> None:
    run = lore(
        "sources",
        "add",
        "confluence",
        "wiki",
        "https://corp.atlassian.net/wiki",
        "user=bot@corp.com",
        "credentials=LORE_LLM_API_KEY",
        cwd=tmp_path,
    )
    assert run.returncode == 2 and "is not a source secret" in run.stderr
    assert not (tmp_path / "data" / "sources.json").exists()


def test_lore_secret_variables_are_not_reported_as_unknown_settings() -> None:
    found = unknown_names({"LORE_SECRET_WIKI": "x", "LORE_REDIS_URLL": "x"}, dotenv=None)
    assert found == [("LORE_REDIS_URLL", "LORE_REDIS_URL")]
