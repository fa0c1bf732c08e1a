import pytest

from bot.memory import MAX_TURNS, ConversationMemory, ThreadRef, Turn
from knowledge import keys
from knowledge.access import Principal
from knowledge.kv.base import KeyValue
from knowledge.kv.redis import RedisStore
from knowledge.tokens import count_tokens
from tests.conftest import flushed_redis
from tests.kv_helpers import FakeClock, assert_expires

THREAD = ThreadRef(team="T1", channel="C1", thread_ts="1700000000.000100")
OTHER = ThreadRef(team="T1", channel="C1", thread_ts="1700000000.000200")
TTL = 3600


FINANCE = Principal.of(groups=["finance"])


def turn(n: int, answer_words: int = 5, grants: list[str] | None = None) -> Turn:
    """Turn n: a 6-token question and an answer of `answer_words` tokens, answered for the public."""
    return Turn(
        question=f"q{n}",
        standalone=f"What is question {n}?",
        answer=" ".join(["apple"] * answer_words),
        grants=["public"] if grants is None else grants,
    )


@pytest.fixture
def memory(store: KeyValue) -> ConversationMemory:
    return ConversationMemory(store, ttl=TTL, max_tokens=1500)


async def test_turns_are_kept_per_thread(memory: ConversationMemory) -> None:
    await memory.add(THREAD, turn(1))
    await memory.add(OTHER, turn(2))
    await memory.add(THREAD, turn(3))
    assert [t.question for t in await memory.turns(THREAD)] == ["q1", "q3"]
    assert [t.question for t in await memory.turns(OTHER)] == ["q2"]


async def test_knows_a_thread_once_answered(memory: ConversationMemory) -> None:
    assert not await memory.knows(THREAD)
    await memory.add(THREAD, turn(1))
    assert await memory.knows(THREAD)
    assert not await memory.knows(OTHER)


async def test_history_is_standalone_and_answer_oldest_first(memory: ConversationMemory) -> None:
    for n in (1, 2, 3):
        await memory.add(THREAD, turn(n))
    assert await memory.history(THREAD, Principal.anonymous()) == [
        (f"What is question {n}?", "apple apple apple apple apple") for n in (1, 2, 3)
    ]


async def test_history_leaves_out_turns_answered_for_readers_who_held_more(
    memory: ConversationMemory,
) -> None:
    await memory.add(THREAD, turn(1))
    await memory.add(THREAD, turn(2, grants=FINANCE.sorted()))
    await memory.add(THREAD, Turn(question="q3", standalone="old", answer="kept before grants were"))
    assert [q for q, _ in await memory.history(THREAD, FINANCE)] == [
        "What is question 1?",
        "What is question 2?",
    ]
    assert [q for q, _ in await memory.history(THREAD, Principal.anonymous())] == ["What is question 1?"]


async def test_add_stamps_the_time(memory: ConversationMemory) -> None:
    await memory.add(THREAD, turn(1))
    await memory.add(THREAD, turn(2).model_copy(update={"at": 42.0}))
    first, second = await memory.turns(THREAD)
    assert first.at > 1_600_000_000 and second.at == 42.0


async def test_token_cap_drops_the_oldest_turns(store: KeyValue) -> None:
    memory = ConversationMemory(store, ttl=TTL, max_tokens=100)
    assert turn(1, answer_words=34).tokens() == 40
    for n in (1, 2, 3, 4):
        await memory.add(THREAD, turn(n, answer_words=34))
    assert [t.question for t in await memory.turns(THREAD)] == ["q3", "q4"]


async def test_token_cap_keeps_the_newest_turn_cut_to_fit(store: KeyValue) -> None:
    memory = ConversationMemory(store, ttl=TTL, max_tokens=100)
    await memory.add(THREAD, turn(1))
    long = " ".join(["pear"] * 500)
    await memory.add(THREAD, Turn(question="q2", standalone=long, answer=long))
    (kept,) = await memory.turns(THREAD)
    assert kept.question == "q2"
    assert count_tokens(kept.standalone) == count_tokens(kept.answer) == 50


async def test_turn_count_is_capped(memory: ConversationMemory) -> None:
    for n in range(MAX_TURNS + 5):
        await memory.add(THREAD, turn(n, answer_words=1))
    assert [t.question for t in await memory.turns(THREAD)] == [f"q{n}" for n in range(5, MAX_TURNS + 5)]


async def test_thread_is_forgotten_after_ttl(memory: ConversationMemory, clock: FakeClock) -> None:
    await memory.add(THREAD, turn(1))
    await assert_expires(memory.store, clock, keys.memory(THREAD.team, THREAD.channel, THREAD.thread_ts), TTL)
    if not isinstance(memory.store, RedisStore):
        assert await memory.turns(THREAD) == [] and not await memory.knows(THREAD)


async def test_replicas_share_threads_through_redis(redis_url: str) -> None:
    one, two = await flushed_redis(redis_url), RedisStore(redis_url)
    first = ConversationMemory(one, ttl=TTL, max_tokens=1500)
    second = ConversationMemory(two, ttl=TTL, max_tokens=1500)
    await first.add(THREAD, turn(1))
    assert await second.knows(THREAD)
    await second.add(THREAD, turn(2))
    assert [t.question for t in await first.turns(THREAD)] == ["q1", "q2"]
    await one.close()
    await two.close()
