"""Principals of Slack people and audiences of conversations, against the Slack stand-in over HTTP."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import Identity
from knowledge.access import Directory
from knowledge.directory import DirectoryFile
from knowledge.kv.memory import MemoryStore
from tests.kv_helpers import FakeClock
from tests.slack_standin import SlackStandin

ANA = "UANA"  # Slack group ops, directory group finance
CLEO = "UCLEO"  # directory group finance (her email is written in another case there)
BOB = "UBOB"  # no group
NOMAIL = "UNOMAIL"  # Slack group ops, no email in the profile
GUEST = "UGUEST"  # a guest, listed in ops and finance
OUTSIDER = "UOUTSIDER"  # of team T2, listed in ops and finance
HOOK = "UHOOK"  # an integration's bot user
GONE = "UGONE"  # deactivated, was in finance
DIRECTORY = Directory(
    groups={
        "finance": [
            "ana@example.com",
            "CLEO@example.com",
            "guest@example.com",
            "out@example.com",
            "gone@example.com",
        ]
    }
)
ANA_HOLDS = {"public", "user:ana@example.com", "group:ops", "group:finance"}


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        standin.add_user(ANA, "Ana@Example.com")
        standin.add_user(CLEO, "cleo@example.com")
        standin.add_user(BOB, "bob@example.com")
        standin.add_user(NOMAIL)
        standin.add_user(GUEST, "guest@example.com", is_restricted=True)
        standin.add_user(OUTSIDER, "out@example.com", team_id="T2")
        standin.add_user(HOOK, is_bot=True)
        standin.add_user(GONE, "gone@example.com", deleted=True)
        standin.add_usergroup("S1", "Ops", [ANA, NOMAIL, GUEST, OUTSIDER])
        yield standin


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def identity(
    slack: SlackStandin,
    clock: FakeClock,
    *,
    ttl: int = 300,
    max_members: int = 1000,
    directory: DirectoryFile | None = None,
    everyone: tuple[str, ...] = (),
    trusted: tuple[str, ...] = (),
) -> Identity:
    client = AsyncWebClient(base_url=slack.api_url, token="xoxb-test")
    return Identity(
        client,
        MemoryStore(clock=clock),
        directory or DirectoryFile.of(DIRECTORY),
        ttl=ttl,
        max_members=max_members,
        bot_user_id=slack.bot_user_id,
        everyone=everyone,
        trusted_bots=trusted,
    )


# ----- principals


@pytest.mark.parametrize(
    ("user", "holds"),
    [
        (ANA, ANA_HOLDS),
        (CLEO, {"public", "user:cleo@example.com", "group:finance"}),
        (BOB, {"public", "user:bob@example.com"}),
        (NOMAIL, {"public", "group:ops"}),
        (GUEST, {"public"}),
        (OUTSIDER, {"public"}),
        (HOOK, {"public"}),
        ("UNKNOWN", {"public"}),  # users.info answers user_not_found
    ],
)
async def test_principal(slack: SlackStandin, clock: FakeClock, user: str, holds: set[str]) -> None:
    principal = await identity(slack, clock).principal("T1", user)
    assert principal.grants == holds


async def test_everyone_grants_go_to_full_members_only(slack: SlackStandin, clock: FakeClock) -> None:
    who = identity(slack, clock, everyone=("group:staff",))
    assert "group:staff" in (await who.principal("T1", BOB)).grants
    assert (await who.principal("T1", GUEST)).grants == {"public"}
    assert (await who.principal("T1", OUTSIDER)).grants == {"public"}


async def test_principal_without_usergroups_scope(slack: SlackStandin, clock: FakeClock) -> None:
    slack.fail("usergroups.list", error="missing_scope", status=200, times=None)
    principal = await identity(slack, clock).principal("T1", ANA)
    assert principal.grants == {"public", "user:ana@example.com", "group:finance"}


async def test_principal_is_cached_for_ttl(slack: SlackStandin, clock: FakeClock) -> None:
    who = identity(slack, clock, ttl=300)
    assert (await who.principal("T1", ANA)).grants == ANA_HOLDS
    assert (await who.principal("T1", ANA)).grants == ANA_HOLDS
    assert len(slack.calls_to("users.info")) == len(slack.calls_to("usergroups.list")) == 1
    clock.advance(300)
    await who.principal("T1", ANA)
    assert len(slack.calls_to("users.info")) == len(slack.calls_to("usergroups.list")) == 2


async def test_ttl_zero_disables_the_cache(slack: SlackStandin, clock: FakeClock) -> None:
    who = identity(slack, clock, ttl=0)
    await who.principal("T1", ANA)
    await who.principal("T1", ANA)
    assert len(slack.calls_to("users.info")) == len(slack.calls_to("usergroups.list")) == 2


@pytest.mark.parametrize("method", ["users.info", "usergroups.list"])
async def test_a_failed_lookup_is_retried_once(slack: SlackStandin, clock: FakeClock, method: str) -> None:
    slack.fail(method, error="internal_error", status=200, times=1)
    assert (await identity(slack, clock).principal("T1", ANA)).grants == ANA_HOLDS
    assert len(slack.calls_to(method)) == 2


@pytest.mark.parametrize(
    ("method", "meanwhile"),
    [
        ("users.info", {"public"}),
        ("usergroups.list", {"public", "user:ana@example.com", "group:finance"}),
    ],
)
async def test_a_failure_is_never_remembered_as_holding_less(
    slack: SlackStandin, clock: FakeClock, method: str, meanwhile: set[str]
) -> None:
    who = identity(slack, clock, ttl=300)
    slack.fail(method, error="internal_error", status=200, times=2)  # both tries of one question
    assert (await who.principal("T1", ANA)).grants == meanwhile
    assert (await who.principal("T1", ANA)).grants == ANA_HOLDS  # the next question asks Slack again


async def test_revocation_in_the_directory_file_holds_without_a_restart(
    slack: SlackStandin, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "directory.yml"
    path.write_text("groups:\n  finance: [ana@example.com, cleo@example.com]\n", encoding="utf-8")
    who = identity(slack, clock, directory=DirectoryFile(path))
    assert "group:finance" in (await who.principal("T1", CLEO)).grants
    path.write_text("groups:\n  finance: [ana@example.com]\n", encoding="utf-8")
    assert "group:finance" not in (await who.principal("T1", CLEO)).grants
    assert "group:finance" in (await who.principal("T1", ANA)).grants  # the file was read, not emptied


async def test_a_broken_directory_file_grants_nothing_until_fixed(
    slack: SlackStandin, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "directory.yml"
    path.write_text("groups:\n  finance: [ana@example.com]\n", encoding="utf-8")
    who = identity(slack, clock, directory=DirectoryFile(path))
    path.write_text("groups: [unclosed\n", encoding="utf-8")
    assert "group:finance" not in (await who.principal("T1", ANA)).grants
    path.unlink()
    assert "group:finance" not in (await who.principal("T1", ANA)).grants
    path.write_text("groups:\n  finance: [ana@example.com]\n", encoding="utf-8")
    assert "group:finance" in (await who.principal("T1", ANA)).grants


# ----- audiences of conversations


async def audience(
    slack: SlackStandin,
    clock: FakeClock,
    members: list[str],
    *,
    private: bool = True,
    shared: bool = False,
    mpim: bool = False,
    **options: object,
) -> set[str]:
    """The grants of a new conversation with `members` (and Lore)."""
    slack.add_channel(
        "CTEST", [*members, slack.bot_user_id], is_private=private, is_ext_shared=shared, is_mpim=mpim
    )
    who = identity(slack, clock, **options)  # type: ignore[arg-type]
    return set((await who.audience("T1", "CTEST")).principal.grants)


@pytest.mark.parametrize(
    ("members", "holds"),
    [
        ([ANA, BOB], {"public"}),
        ([ANA, CLEO], {"public", "group:finance"}),
        ([ANA, NOMAIL], {"public", "group:ops"}),
        ([ANA, GUEST], {"public"}),  # the guest is in ops and finance: a guest holds public only
        ([ANA, OUTSIDER], {"public"}),
        ([ANA, "UNKNOWN"], {"public"}),
        ([ANA, CLEO, HOOK], {"public"}),  # an untrusted bot reads like the public
        ([ANA, CLEO, GONE], {"public", "group:finance"}),  # deactivated people read nothing
        ([ANA], ANA_HOLDS),  # alone with Lore, the audience is Ana
    ],
)
async def test_private_channel_audience_is_what_every_member_holds(
    slack: SlackStandin, clock: FakeClock, members: list[str], holds: set[str]
) -> None:
    assert await audience(slack, clock, members) == holds


async def test_a_trusted_bot_does_not_narrow_the_audience(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO, HOOK], trusted=(HOOK,)) == {"public", "group:finance"}


async def test_group_dm_audience_is_what_every_member_holds(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO], mpim=True) == {"public", "group:finance"}
    assert await audience(slack, clock, [ANA, CLEO, BOB], mpim=True) == {"public"}


async def test_public_channel_of_finance_members_is_public(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO], private=False) == {"public"}
    assert slack.calls_to("conversations.members") == []  # nobody in it can change that


@pytest.mark.parametrize(
    ("members", "holds"),
    [
        ([ANA, CLEO], {"public", "group:staff"}),
        ([ANA, GUEST], {"public"}),
        ([ANA, HOOK], {"public"}),
        ([ANA, OUTSIDER], {"public"}),
    ],
)
async def test_public_channel_holds_what_everyone_is_granted(
    slack: SlackStandin, clock: FakeClock, members: list[str], holds: set[str]
) -> None:
    assert await audience(slack, clock, members, private=False, everyone=("group:staff",)) == holds


async def test_audience_never_looks_up_lore_itself(slack: SlackStandin, clock: FakeClock) -> None:
    await audience(slack, clock, [ANA, CLEO])
    assert slack.bot_user_id not in {call.args["user"] for call in slack.calls_to("users.info")}


async def test_slack_connect_channel_is_public_only(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO], shared=True) == {"public"}


async def test_channel_over_max_members_is_public_only(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO], max_members=2) == {"public"}  # Lore is a member too


@pytest.mark.parametrize("method", ["conversations.info", "conversations.members"])
async def test_a_failed_channel_lookup_is_retried_once(
    slack: SlackStandin, clock: FakeClock, method: str
) -> None:
    slack.fail(method, error="internal_error", status=200, times=1)
    assert await audience(slack, clock, [ANA, CLEO]) == {"public", "group:finance"}
    assert len(slack.calls_to(method)) == 2


@pytest.mark.parametrize("method", ["conversations.info", "conversations.members"])
async def test_audience_is_public_when_slack_fails(
    slack: SlackStandin, clock: FakeClock, method: str
) -> None:
    slack.fail(method, error="channel_not_found", status=200)
    assert await audience(slack, clock, [ANA, CLEO]) == {"public"}


def big_workspace(slack: SlackStandin, people: int) -> list[str]:
    """`people` people with an email each; returns their ids."""
    many = [f"U{n:05d}" for n in range(people)]
    for user in many:
        slack.add_user(user, f"{user.lower()}@example.com")
    return many


async def test_a_thousand_member_channel_takes_a_few_slack_calls(
    slack: SlackStandin, clock: FakeClock
) -> None:
    many = big_workspace(slack, 1500)
    finance = Directory(groups={"finance": [f"{u.lower()}@example.com" for u in many]})
    slack.add_channel("CBIG", many[:999], is_private=True)
    slack.add_channel("CMIXED", [*many[:998], BOB], is_private=True)
    who = identity(slack, clock, directory=DirectoryFile.of(finance))
    assert (await who.audience("T1", "CBIG")).principal.grants == {"public", "group:finance"}
    assert (await who.audience("T1", "CMIXED")).principal.grants == {"public"}
    assert len(slack.calls_to("users.list")) == 2  # 1508 people, 1000 a page, then cached
    assert len(slack.calls_to("conversations.members")) == 2  # one page per channel
    assert slack.calls_to("users.info") == []


async def test_a_failed_workspace_listing_makes_a_large_channel_public(
    slack: SlackStandin, clock: FakeClock
) -> None:
    many = big_workspace(slack, 60)
    finance = Directory(groups={"finance": [f"{u.lower()}@example.com" for u in many]})
    slack.add_channel("CBIG", many, is_private=True)
    who = identity(slack, clock, directory=DirectoryFile.of(finance))
    slack.fail("users.list", error="internal_error", status=200, times=2)
    assert (await who.audience("T1", "CBIG")).principal.grants == {"public"}
    assert slack.calls_to("users.info") == []  # not sixty lookups instead
    assert (await who.audience("T1", "CBIG")).principal.grants == {"public", "group:finance"}  # not cached
