from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import Identity
from knowledge.access import Directory
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
DIRECTORY = Directory(
    groups={"finance": ["ana@example.com", "CLEO@example.com", "guest@example.com", "out@example.com"]}
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
        standin.add_usergroup("S1", "Ops", [ANA, NOMAIL, GUEST, OUTSIDER])
        yield standin


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def identity(slack: SlackStandin, clock: FakeClock, *, ttl: int = 300, max_members: int = 1000) -> Identity:
    client = AsyncWebClient(base_url=slack.api_url, token="xoxb-test")
    return Identity(
        client,
        MemoryStore(clock=clock),
        DIRECTORY,
        ttl=ttl,
        max_members=max_members,
        bot_user_id=slack.bot_user_id,
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
        ("UNKNOWN", {"public"}),  # users.info answers user_not_found
    ],
)
async def test_principal(slack: SlackStandin, clock: FakeClock, user: str, holds: set[str]) -> None:
    principal = await identity(slack, clock).principal("T1", user)
    assert principal.grants == holds


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


# ----- audiences of channels


async def audience(
    slack: SlackStandin,
    clock: FakeClock,
    members: list[str],
    *,
    shared: bool = False,
    max_members: int = 1000,
) -> set[str]:
    """The grants of a new channel with `members` (and Lore)."""
    slack.add_channel("CTEST", [*members, slack.bot_user_id], is_ext_shared=shared)
    who = identity(slack, clock, max_members=max_members)
    return set((await who.audience("T1", "CTEST")).grants)


@pytest.mark.parametrize(
    ("members", "holds"),
    [
        ([ANA, BOB], {"public"}),
        ([ANA, CLEO], {"public", "group:finance"}),
        ([ANA, NOMAIL], {"public", "group:ops"}),
        ([ANA, GUEST], {"public"}),
        ([ANA, "UNKNOWN"], {"public"}),
        ([ANA, CLEO, HOOK], {"public", "group:finance"}),  # bots are not readers
        ([ANA], ANA_HOLDS),  # alone with Lore, the audience is Ana
    ],
)
async def test_audience_is_what_every_member_holds(
    slack: SlackStandin, clock: FakeClock, members: list[str], holds: set[str]
) -> None:
    assert await audience(slack, clock, members) == holds


async def test_audience_never_looks_up_lore_itself(slack: SlackStandin, clock: FakeClock) -> None:
    await audience(slack, clock, [ANA, CLEO])
    assert slack.bot_user_id not in {call.args["user"] for call in slack.calls_to("users.info")}


async def test_slack_connect_channel_is_public_only(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO], shared=True) == {"public"}


async def test_channel_over_max_members_is_public_only(slack: SlackStandin, clock: FakeClock) -> None:
    assert await audience(slack, clock, [ANA, CLEO], max_members=2) == {"public"}  # Lore is a member too


async def test_every_page_of_members_counts(slack: SlackStandin, clock: FakeClock) -> None:
    many = [f"U{n:03d}" for n in range(249)]
    for user in many:
        slack.add_user(user, f"{user.lower()}@example.com")
    slack.add_user(BOB, "bob@example.com")
    finance = [f"{user.lower()}@example.com" for user in many]
    slack.add_channel("CBIG", [*many, BOB])
    slack.add_channel("CFINANCE", many)
    who = Identity(
        AsyncWebClient(base_url=slack.api_url, token="xoxb-test"),
        MemoryStore(clock=clock),
        Directory(groups={"finance": finance}),
        ttl=300,
        max_members=1000,
    )
    assert (await who.audience("T1", "CBIG")).grants == {"public"}
    assert (await who.audience("T1", "CFINANCE")).grants == {"public", "group:finance"}
    assert len(slack.calls_to("conversations.members")) == 4  # two pages per channel


@pytest.mark.parametrize("method", ["conversations.info", "conversations.members"])
async def test_audience_is_public_when_slack_fails(
    slack: SlackStandin, clock: FakeClock, method: str
) -> None:
    slack.fail(method, error="channel_not_found", status=200)
    assert await audience(slack, clock, [ANA, CLEO]) == {"public"}
