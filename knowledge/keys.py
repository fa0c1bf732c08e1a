"""Every Redis key family of Lore, named once. All keys start with `lore:`."""

from __future__ import annotations

PREFIX = "lore:"


def event(event_id: str) -> str:
    """Marks a Slack event as taken by one replica (retries carry the same event_id)."""
    return f"{PREFIX}event:{event_id}"


def message(team: str, channel: str, ts: str) -> str:
    """Marks a user message as being answered (an @mention arrives as two events)."""
    return f"{PREFIX}message:{team}:{channel}:{ts}"


def memory(team: str, channel: str, thread_ts: str) -> str:
    """The turns of one thread's conversation (a list of JSON turns)."""
    return f"{PREFIX}memory:{team}:{channel}:{thread_ts}"


def rate(team: str, user: str, window: int) -> str:
    """Questions of one person in one rate-limit window."""
    return f"{PREFIX}rate:{team}:{user}:{window}"


def person(team: str, user: str) -> str:
    """Cached identity (email, flags) of one Slack user."""
    return f"{PREFIX}person:{team}:{user}"


def people(team: str) -> str:
    """Cached people of a whole workspace (users.list): user id -> email and flags, one JSON object."""
    return f"{PREFIX}people:{team}"


def usergroups(team: str) -> str:
    """Cached Slack user groups of a workspace with their members."""
    return f"{PREFIX}usergroups:{team}"


def answer(answer_id: str) -> str:
    """What was asked and answered, kept for feedback."""
    return f"{PREFIX}answer:{answer_id}"


def feedback(answer_id: str) -> str:
    """The votes on one answer (a list of JSON votes)."""
    return f"{PREFIX}feedback:{answer_id}"


def feedback_log() -> str:
    """Every vote, newest last, for review and export."""
    return f"{PREFIX}feedback"


def channels() -> str:
    """The channels' setups (a hash: channel id -> setup JSON)."""
    return f"{PREFIX}channels"


def unanswered_log() -> str:
    """The answers that were `no_answer` (JSON answer records), newest last, for the admins' review."""
    return f"{PREFIX}unanswered"


def offer(offer_id: str) -> str:
    """A pending offer to answer someone privately (the question and where it was asked)."""
    return f"{PREFIX}offer:{offer_id}"


def sources() -> str:
    """The source registry: a hash of source id -> record JSON (the source and its last sync's status)."""
    return f"{PREFIX}sources"


def audit() -> str:
    """Who changed which source, when (a list of JSON entries, newest last)."""
    return f"{PREFIX}audit"


def apikeys() -> str:
    """API keys: a hash of key id -> record JSON (the key's hash, principal and limit; never the key)."""
    return f"{PREFIX}apikeys"


def api_rate(key_id: str, window: int) -> str:
    """Requests made with one API key in one rate-limit window."""
    return f"{PREFIX}apirate:{key_id}:{window}"


def sync_state(source_id: str) -> str:
    """The sync state of one source's documents (a hash: document id -> its state as JSON)."""
    return f"{PREFIX}syncstate:{source_id}"


def sync_state_sources() -> str:
    """The sources that have a sync state (a hash: source id -> 1)."""
    return f"{PREFIX}syncstate-sources"


def connector_cache(source_id: str) -> str:
    """What one source's connector keeps between syncs (a hash: kind, e.g. mediawiki -> its value as JSON)."""
    return f"{PREFIX}conncache:{source_id}"
