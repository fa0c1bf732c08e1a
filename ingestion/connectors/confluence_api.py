"""The Confluence REST v1 calls Lore makes (the endpoints Cloud and Data Center both serve), the payloads it
reads from them, and what the Confluence connector keeps between syncs.

Field names are Atlassian's (`_links`, `accountId`, `operationKey`, ...); everything Lore does not read is
ignored, and what a site may leave out (an email hidden by privacy settings, an expansion a version does not
know) has a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import aiohttp
from multidict import MultiDict
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ingestion.connectors.base import ListingError
from ingestion.connectors.http import Http, HttpFailure

T = TypeVar("T")
M = TypeVar("M", bound="Payload")
MAX_CALLS = 10_000  # pages of one paginated listing: past this the server is looping (CONFSERVER-95396)


class Payload(BaseModel):
    """A piece of a Confluence answer: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Links(Payload):
    """`_links`: paths are relative to `base` (the site's URL with its context path, e.g. .../wiki)."""

    base: str = ""
    context: str = ""
    next: str = ""
    webui: str = ""
    download: str = ""


class Results(Payload, Generic[T]):
    """A paginated list: `results`, `start`, `limit`, `size` and `_links.next` while there are more."""

    results: list[T] = Field(default_factory=list)
    start: int = 0
    limit: int = 0
    size: int = 0
    links: Links = Field(default_factory=Links, alias="_links")


class User(Payload):
    """A Cloud user (accountId, email when the profile shows it) or a Data Center one (username, userKey)."""

    type: str = ""
    account_id: str = Field("", alias="accountId")
    email: str = ""
    username: str = ""
    user_key: str = Field("", alias="userKey")
    display_name: str = Field("", alias="displayName")


class Group(Payload):
    name: str = ""
    id: str = ""


class Subjects(Payload):
    """Who a restriction or a Cloud space permission names."""

    user: Results[User] = Field(default_factory=Results[User])
    group: Results[Group] = Field(default_factory=Results[Group])


class Restriction(Payload):
    operation: str = ""
    restrictions: Subjects = Field(default_factory=Subjects)


class Restrictions(Payload):
    """`restrictions` expanded with `restrictions.read.restrictions.user/group`."""

    read: Restriction | None = None


class Version(Payload):
    number: int
    when: datetime


class ContentRef(Payload):
    id: str
    type: str = ""


class Rendered(Payload):
    value: str = ""


class Body(Payload):
    export_view: Rendered | None = None
    view: Rendered | None = None


class Extensions(Payload):
    """An attachment's file facts."""

    file_size: int | None = Field(None, alias="fileSize")
    media_type: str = Field("", alias="mediaType")


class Content(Payload):
    """A page or an attachment, with whatever expansions were asked for."""

    id: str
    type: str = "page"
    status: str = "current"
    title: str = ""
    version: Version | None = None
    ancestors: list[ContentRef] = Field(default_factory=list)
    restrictions: Restrictions | None = None
    container: ContentRef | None = None
    extensions: Extensions | None = None
    body: Body | None = None
    links: Links = Field(default_factory=Links, alias="_links")


class Operation(Payload):
    """Cloud writes `{"operation": "read", "targetType": "space"}`, Data Center `operationKey`."""

    operation: str = ""
    operation_key: str = Field("", alias="operationKey")
    target_type: str = Field("", alias="targetType")

    def views_space(self) -> bool:
        """The permission to view the space (and so every page in it that no restriction hides)."""
        return (self.operation or self.operation_key) == "read" and self.target_type == "space"


class CloudSpacePermission(Payload):
    """One entry of a Cloud space's `permissions` expansion; no subjects = anonymous when anonymousAccess."""

    operation: Operation = Field(default_factory=Operation)
    subjects: Subjects | None = None
    anonymous_access: bool = Field(False, alias="anonymousAccess")


class DcSubject(Payload):
    type: str = ""  # user, group or anonymous
    name: str = ""
    username: str = ""
    user_key: str = Field("", alias="userKey")
    display_name: str = Field("", alias="displayName")


class DcSpacePermission(Payload):
    """One entry of Data Center's `GET /rest/api/space/{key}/permissions` (9.1 and later)."""

    operation: Operation = Field(default_factory=Operation)
    subject: DcSubject = Field(default_factory=DcSubject)


class Space(Payload):
    """A space; `permissions` is there on Cloud when asked for with `expand=permissions`."""

    key: str
    name: str = ""
    permissions: list[CloudSpacePermission] | None = None
    links: Links = Field(default_factory=Links, alias="_links")


# ----- what the connector keeps between syncs (one JSON file per source)


class AttachmentState(Payload):
    id: str
    title: str
    version: int
    when: datetime
    download: str = Field(description="The download path, relative to the site's base URL.")
    webui: str = ""
    size: int | None = None

    @classmethod
    def of(cls, item: Content, suffixes: frozenset[str]) -> AttachmentState | None:
        """An attachment with one of `suffixes`, or None (another format, or no way to download it)."""
        if PurePosixPath(item.title).suffix.lower() not in suffixes or not item.links.download:
            return None
        if item.version is None:
            raise ListingError(f"Confluence listed attachment {item.id} without its version; try again later")
        return cls(
            id=item.id,
            title=item.title,
            version=item.version.number,
            when=item.version.when,
            download=item.links.download,
            webui=item.links.webui,
            size=item.extensions.file_size if item.extensions else None,
        )


class PageState(Payload):
    id: str
    title: str
    version: int
    when: datetime
    webui: str = ""
    attachments: list[AttachmentState] = Field(default_factory=list)
    skipped: int = Field(0, description="Attachments in formats Lore does not read.")

    @classmethod
    def of(cls, page: Content) -> PageState:
        """A listed page (its attachments are listed apart)."""
        if page.version is None:
            raise ListingError(f"Confluence listed page {page.id} without its version; try again later")
        number, when = page.version.number, page.version.when
        return cls(id=page.id, title=page.title, version=number, when=when, webui=page.links.webui)


class Snapshot(Payload):
    """The last complete listing: every page of every space, and when it was taken."""

    site: str = Field(description="Base URL and spaces option it was taken for; another one starts afresh.")
    taken_at: datetime
    base: str = Field(description="`_links.base` of the site: web links are made absolute with it.")
    spaces: dict[str, dict[str, PageState]] = Field(default_factory=dict)


# ----- the calls


class Site:
    """The REST calls of one listing or fetch, in one HTTP session; every failure is a `ListingError`."""

    def __init__(
        self, http: Http, session: aiohttp.ClientSession, base: str, *, cloud: bool, limit: int = 100
    ) -> None:
        self.http, self.session, self.base, self.cloud, self.limit = http, session, base, cloud, limit

    async def spaces(self, keys: list[str] | None) -> tuple[list[Space], str]:
        """The spaces to index (all the account can read when `keys` is None) and the site's `_links.base`."""
        params = MultiDict([("limit", str(self.limit)), ("expand", "permissions")])
        params.extend(("spaceKey", key) for key in keys or [])
        found, base = await self.paged("/rest/api/space", params, Space)
        if keys is None:
            return found, base
        by_key = {space.key: space for space in found}
        if missing := [key for key in keys if key not in by_key]:
            raise ListingError(
                f"Confluence has no space {', '.join(missing)} that Lore's account can read: check the "
                "source's spaces= and that the account may view those spaces",
                retryable=False,
            )
        return [by_key[key] for key in keys], base

    async def cloud_permissions(self, key: str) -> list[CloudSpacePermission]:
        """Who holds which permission in a Cloud space, asked of the space itself (`expand=permissions`)."""
        data = await self.get(f"/rest/api/space/{quote(key)}", {"expand": "permissions"})
        return _parse(Space, data, f"space {key}").permissions or []

    async def dc_permissions(self, key: str) -> list[DcSpacePermission]:
        """Who holds which permission in a Data Center space (9.1 and later; the space's Admin permission)."""
        try:
            data = await self.get(f"/rest/api/space/{quote(key)}/permissions")
            return TypeAdapter(list[DcSpacePermission]).validate_python(data)
        except (ListingError, ValidationError) as exc:
            raise ListingError(
                f"cannot read who may view space {key} ({_first_line(exc)}): Lore needs Confluence Data "
                "Center 9.1 or later (GET /rest/api/space/KEY/permissions) and an account with the space's "
                "Admin permission; or leave the space out with spaces=",
                retryable=getattr(exc, "retryable", False),
            ) from exc

    async def pages(self, key: str, expand: str) -> dict[str, Content]:
        """The current pages of a space, by id, with `expand`."""
        params = {"spaceKey": key, "type": "page", "limit": str(self.limit), "expand": expand}
        found, _ = await self.paged("/rest/api/content", params, Content)
        return {page.id: page for page in found}

    async def changes(self, key: str, since: datetime) -> list[Content]:
        """The pages and attachments of a space modified since `since` (with their version and container).

        CQL reads the date in a time zone Lore does not know (the site's or the account's); `since` is
        written in UTC, so callers ask from far enough back to cover every zone."""
        when = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        cql = f'space = "{key}" and type in (page, attachment) and lastmodified >= "{when}"'
        params = {"cql": cql, "limit": str(self.limit), "expand": "version,container"}
        found, _ = await self.paged("/rest/api/content/search", params, Content)
        return found

    async def attachments(self, page_id: str) -> list[Content]:
        params = {"limit": str(self.limit), "expand": "version"}
        found, _ = await self.paged(f"/rest/api/content/{quote(page_id)}/child/attachment", params, Content)
        return found

    async def rendered(self, page_id: str) -> Content:
        """A page with its body as HTML (`export_view`: macros rendered, links absolute)."""
        data = await self.get(f"/rest/api/content/{quote(page_id)}", {"expand": "body.export_view"})
        return _parse(Content, data, "a page")

    async def paged(self, path: str, params: Mapping[str, str], model: type[M]) -> tuple[list[M], str]:
        """Every item of a paginated resource, following `_links.next`; and the site's `_links.base`."""
        items: list[M] = []
        seen: set[str] = set()
        url, base = path, ""
        query: Mapping[str, str] | None = params
        for _ in range(MAX_CALLS):
            page = _parse(Results[Any], await self.get(url, query), path)
            base = base or page.links.base
            fresh = [r for r in page.results if _identity(r) not in seen]
            seen.update(_identity(r) for r in fresh)
            items.extend(_parse(model, r, path) for r in fresh)
            if not fresh or not page.links.next:
                return items, base
            url, query = page.links.next, None
        raise ListingError(f"Confluence kept paginating {path} past {MAX_CALLS} pages; try again later")

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One JSON call; refused credentials say how Confluence wants them."""
        try:
            return await self.http.get_json(self.session, absolute(self.base, path), params)
        except ListingError as exc:
            cause = exc.__cause__
            if isinstance(cause, HttpFailure) and cause.status in (401, 403):
                raise ListingError(f"{exc}. {self._credentials_hint()}", retryable=False) from exc
            raise

    def _credentials_hint(self) -> str:
        if self.cloud:
            return (
                "Confluence Cloud takes user= (the account's email) and an API token as the secret "
                "(id.atlassian.com > Security > API tokens)"
            )
        return (
            "Confluence Data Center takes a personal access token as the secret (Profile > Personal Access "
            "Tokens) and no user=; a Cloud site (https://x.atlassian.net/wiki) needs user=EMAIL and an API "
            "token"
        )


def absolute(base: str, link: str) -> str:
    """A link of a payload made absolute: Confluence's links are relative to the site's base URL."""
    if not link or link.startswith(("http://", "https://")):
        return link
    return base.rstrip("/") + link


def _parse(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ListingError(
            f"Confluence sent an answer Lore cannot read for {what}: {_first_line(exc)}"
        ) from exc


def _identity(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("id") or item.get("key") or item)
    return str(item)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
