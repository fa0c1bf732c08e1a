"""The chat client: any OpenAI-compatible endpoint, streamed, with errors that say how to fix them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import openai

from knowledge.answering.prompt import ChatMessage
from knowledge.settings import Settings

NO_KEY = "not-needed"  # local servers (llama.cpp, vLLM, Ollama) accept any key, the client insists on one


class LLMError(RuntimeError):
    """An LLM call failed; `retryable` says whether trying again later may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def map_error(exc: BaseException, settings: Settings) -> LLMError:
    """The `LLMError` for an exception of the OpenAI client, with what to check."""
    url, model = settings.llm_base_url, settings.llm_model
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(
            f"LLM at {url} did not answer within {settings.llm_timeout:g} s: check the server's load, "
            "or raise LORE_LLM_TIMEOUT",
            retryable=True,
        )
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"LLM at {url} unreachable: check LORE_LLM_BASE_URL and that the server runs", True)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return LLMError(
            f"LLM at {url} rejected the API key (HTTP {exc.status_code}): check LORE_LLM_API_KEY", False
        )
    if isinstance(exc, openai.NotFoundError):
        return LLMError(
            f"LLM at {url} has no model {model!r} or no chat endpoint (HTTP 404): check LORE_LLM_MODEL and "
            "LORE_LLM_BASE_URL (it usually ends in /v1)",
            retryable=False,
        )
    if isinstance(exc, openai.RateLimitError):
        return LLMError(f"LLM at {url} is rate limiting Lore (HTTP 429): try again shortly", True)
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code >= 500:
            return LLMError(f"LLM at {url} failed (HTTP {code}): check the server's logs", True)
        return LLMError(
            f"LLM at {url} refused the request (HTTP {code}): check LORE_LLM_MODEL and the server's logs",
            False,
        )
    if isinstance(exc, openai.APIError):
        return LLMError(f"LLM at {url} sent an error or a malformed reply: check the server's logs", True)
    return LLMError(f"Connection to the LLM at {url} broke off: check the server and the network", True)


class ChatClient:
    """Chat completions at `settings.llm_base_url`; owned by one `Answerer`, closed with `aclose()`."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_base_url:
            raise LLMError("No LLM configured: set LORE_LLM_BASE_URL to an OpenAI-compatible endpoint", False)
        self.settings = settings
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else NO_KEY
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=key,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_retries,
        )

    def _request(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        return {
            "model": self.settings.llm_model,
            "messages": cast(Any, list(messages)),
            "temperature": self.settings.llm_temperature,
        }

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        """The reply's text as it arrives, piece by piece; raises `LLMError` before or mid-stream."""
        try:
            response = await self._client.chat.completions.create(**self._request(messages), stream=True)
        except Exception as exc:  # every failure of the call or the transport becomes an LLMError
            raise map_error(exc, self.settings) from exc
        try:
            async with response:
                async for chunk in response:
                    for choice in chunk.choices:
                        if choice.delta and choice.delta.content:
                            yield choice.delta.content
        except Exception as exc:
            if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
                # the server sent an error event inside the stream
                raise map_error(exc, self.settings) from exc
            raise LLMError(
                f"The LLM at {self.settings.llm_base_url} stalled or broke off mid-answer: check its logs",
                retryable=True,
            ) from exc

    async def complete(self, messages: Sequence[ChatMessage], *, retries: int | None = None) -> str:
        """The whole reply at once; raises `LLMError`. `retries` replaces `LORE_LLM_RETRIES` for this call
        (0: a step that can be skipped fails at once, and the answer's own call keeps the retries)."""
        client = self._client if retries is None else self._client.with_options(max_retries=retries)
        try:
            response = await client.chat.completions.create(**self._request(messages))
        except Exception as exc:
            raise map_error(exc, self.settings) from exc
        if not response.choices:
            raise LLMError(f"LLM at {self.settings.llm_base_url} returned no choices: check the server", True)
        return response.choices[0].message.content or ""

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()
