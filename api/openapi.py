"""The OpenAPI 3.1 document of the Knowledge API, built from the same pydantic models that validate it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.schemas import AnswerRequest, AnswerResponse, ApiError, Delta, SearchRequest, SearchResponse

REF = "#/components/schemas/{model}"
JSON = "application/json"
SSE = "text/event-stream"

_MODELS: list[tuple[type[BaseModel], Any]] = [
    (SearchRequest, "validation"),
    (AnswerRequest, "validation"),
    (SearchResponse, "serialization"),
    (AnswerResponse, "serialization"),
    (Delta, "serialization"),
    (ApiError, "serialization"),
]

SSE_DESCRIPTION = (
    "With `stream: true` or `Accept: text/event-stream`: server-sent events. `event: delta` carries "
    '`{"text": …}` (more answer text), then one `event: final` carries the AnswerResponse, which '
    "replaces what the deltas showed; `event: error` carries an ApiError if answering fails midway."
)


EVENTS = (("delta", "Delta"), ("final", "AnswerResponse"), ("error", "ApiError"))


def _event(name: str, model: str) -> dict[str, Any]:
    """One server-sent event: its name, and its data as the JSON of `model`."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": JSON,
                "contentSchema": {"$ref": REF.format(model=model)},
            },
        },
    }


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": {"$ref": REF.format(model="ApiError")}}},
    }
    if retry:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 1}}
        }
    return response


def _errors() -> dict[str, Any]:
    return {
        "400": _error("The body is not a JSON object."),
        "401": _error("No API key, or an unknown or revoked one."),
        "413": _error("The body is larger than 2 MB."),
        "422": _error("The request does not match its schema; `fields` says which fields are wrong."),
        "429": _error("The key's rate limit is reached.", retry=True),
        "503": _error("The index, the embedding service or the shared store is unreachable.", retry=True),
    }


def _operation(summary: str, request: str, response: str, stream: bool = False) -> dict[str, Any]:
    ok: dict[str, Any] = {JSON: {"schema": {"$ref": REF.format(model=response)}}}
    if stream:
        ok[SSE] = {"schema": {"description": SSE_DESCRIPTION, "oneOf": [_event(*e) for e in EVENTS]}}
    return {
        "summary": summary,
        "operationId": summary.split()[0].lower(),
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"$ref": REF.format(model=request)}}},
        },
        "responses": {
            "200": {"description": "Only what the key's principal may read.", "content": ok},
            **_errors(),
        },
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document, served at `/openapi.json`."""
    _, schemas = models_json_schema(_MODELS, ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lore Knowledge API",
            "version": version,
            "description": (
                "Search and cited answers over the knowledge Lore indexes, under the principal of the API "
                "key (its access strings, set by the admin who created it). Results of federated Lore "
                "deployments are fused in; one that does not answer in time is named in `skipped`."
            ),
        },
        "paths": {
            "/v1/search": {
                "post": _operation("Search the knowledge base", "SearchRequest", "SearchResponse")
            },
            "/v1/answer": {
                "post": _operation(
                    "Answer a question with citations", "AnswerRequest", "AnswerResponse", True
                )
            },
        },
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `/lore apikey create` or `lore apikey create`.",
                }
            },
        },
    }
