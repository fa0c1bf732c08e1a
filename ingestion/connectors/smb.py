"""SMB 2/3 shares (smbprotocol, pure Python: no mount, no smbclient binary).

A location is `smb://server[:port]/share[/folder]`; `user=` is the account Lore signs in as (`svc-lore`,
`CORP\\svc-lore` or `svc-lore@corp.example.com`, NTLM through pyspnego) and the credentials are its password.
Every non-hidden file under the folder is listed with a version made of its size and the server's last
write and change times (Windows moves the change time on metadata changes too; Samba reports the mtime).
Access comes from each file's DACL, read at every listing and mapped through the directory file (see
`smb_acl.py`): a permission change alone updates the index's acl without fetching or re-embedding. A file
whose DACL cannot be read (denied, malformed, an error of the server for that file) is listed as a failed
entry that nobody may read; a subfolder that cannot be listed is a failed entry too, and the listing goes on.
Share-level permissions are not read: give the source a ceiling for them.

Links are never followed out of the share, and a file or folder is listed once (see `smb_walk.py`).

Connections are opened for one listing or one fetch and closed at its end (smbclient's pool would
otherwise keep sockets, and their reader threads, open for the life of the process).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

from pydantic import BaseModel

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.smb_acl import DescriptorError, access_of, query_security, unmapped_readers
from ingestion.connectors.smb_walk import ACCESS_DENIED, Found, walk
from ingestion.kinds.smb import SMB_KIND
from ingestion.parsing import SUPPORTED, readable_stem
from knowledge.access import Directory
from knowledge.settings import Settings
from knowledge.sources import Source

log = logging.getLogger(__name__)

SMB_PORT = 445
CONNECT_TIMEOUT = 15  # seconds to reach the server and sign in
BLOCK = 1 << 20  # bytes read per call when fetching
SIGN_IN_REFUSED = {
    0xC000006A: "wrong password",
    0xC000006D: "unknown user or wrong password",
    0xC000006E: "account restrictions",
    0xC0000071: "password expired",
    0xC0000072: "account disabled",
    0xC0000224: "password must be changed",
    0xC0000234: "account locked out",
}
SESSION_LOST = {  # errors about the connection, not the file: the listing fails (and is retried)
    0xC00000C9,  # STATUS_NETWORK_NAME_DELETED
    0xC0000203,  # STATUS_USER_SESSION_DELETED
    0xC000035C,  # STATUS_NETWORK_SESSION_EXPIRED
}
SHOWN_SIDS = 10  # unmapped SIDs named in a listing's warning
READERS = 4  # connections that read security descriptors at once during a listing
CONNECT_TRIES = 3  # a reader whose connection the server closes starts again on a new one, twice at most
# how a dropped connection surfaces besides SMBConnectionClosed: the socket closed under a send or a read
DROPPED = frozenset({errno.EBADF, errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN})


class Share(BaseModel):
    """One location: a folder (or a single file) of a share on a server."""

    netloc: str  # host[:port] as written, for the links users click
    host: str
    port: int
    share: str
    folder: str  # '/'-separated, no leading or trailing '/'; "" for the share's root

    @property
    def name(self) -> str:
        """The prefix of doc ids when a source has several locations: the folder's (or share's) name."""
        return PurePosixPath(self.folder).name or self.share

    def unc(self, rel: str = "") -> str:
        """`\\\\host\\share\\folder\\rel`."""
        parts = [self.host, self.share, *self.folder.split("/"), *rel.split("/")]
        return "\\\\" + "\\".join(p for p in parts if p)

    def url(self, rel: str) -> str:
        """`smb://host[:port]/share/folder/rel`, percent-encoded."""
        path = "/".join(p for p in (self.share, self.folder, rel) if p)
        return f"smb://{self.netloc}/{quote(path)}"


def parse_location(location: str) -> Share:
    """A `smb://server[:port]/share[/folder]` location; ValueError says what to write."""
    parsed = urlparse(location)
    parts = [p for p in unquote(parsed.path).split("/") if p]
    try:
        port = parsed.port or SMB_PORT
    except ValueError as exc:
        raise ValueError(f"invalid port in {location!r}: give smb://server[:port]/share/folder") from exc
    if parsed.scheme != "smb" or not parsed.hostname or not parts:
        raise ValueError(f"invalid share {location!r}: give smb://server/share/folder")
    return Share(
        netloc=parsed.netloc, host=parsed.hostname, port=port, share=parts[0], folder="/".join(parts[1:])
    )


class SmbConnector:
    """Every non-hidden file of one or more SMB shares, with access from the files' own DACLs."""

    kind = SMB_KIND

    def __init__(
        self,
        shares: list[Share],
        user: str,
        password: str,
        directory: Directory,
        max_bytes: int,
        readers: int = READERS,
    ) -> None:
        self.shares = shares
        self.readers = readers
        self.user = user.replace("/", "\\")  # CORP/svc-lore is a common slip for CORP\svc-lore
        self._password = password
        self.directory = directory
        self.notes: list[str] = []  # set by each listing: the accounts an admin should map
        self.max_bytes = max_bytes

    @classmethod
    def from_source(cls, source: Source, settings: Settings) -> SmbConnector:
        """The connector of a registered `smb` source; ListingError (not retryable) if it cannot be built."""
        try:
            shares = [parse_location(loc) for loc in source.location]
        except ValueError as exc:
            raise ListingError(str(exc), retryable=False) from exc
        user = source.options.get("user", "")
        if not user or source.credentials is None:
            raise ListingError(
                "an smb source needs user= and credentials= (the account's password): add the source again",
                retryable=False,
            )
        password = source.credentials.resolve(settings.secrets_dir)  # CredentialsError: on the status
        try:
            directory = Directory.load(settings.directory_file)
        except Exception as exc:  # missing file, bad YAML, an invalid access string
            raise ListingError(
                f"cannot read the directory file {settings.directory_file}: {exc}", retryable=False
            ) from exc
        return cls(shares, user, password, directory, int(settings.max_file_mb * 1_000_000))

    @contextmanager
    def _session(self, share: Share) -> Iterator[dict[str, Any]]:
        """smbclient keyword arguments over a connection pool of our own, closed when the block ends."""
        import smbclient

        cache: dict[str, Any] = {}
        try:
            yield {
                "username": self.user,
                "password": self._password,
                "port": share.port,
                "connection_timeout": CONNECT_TIMEOUT,
                "connection_cache": cache,
            }
        finally:
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every file of every location, listed in a worker thread; complete or ListingError."""
        for ref in await asyncio.to_thread(self._listing):
            yield ref

    def _listing(self) -> list[DocumentRef]:
        self.notes = []
        refs: dict[str, DocumentRef] = {}
        seen: set[str] = set()
        unmapped: set[str] = set()
        for share in self.shares:
            with self._session(share) as session:
                try:
                    found = [
                        (rel, self._doc_id(share, rel), entry, problem)
                        for rel, entry, problem in walk(share, session)
                    ]
                except ListingError:
                    raise
                except Exception as exc:
                    raise self._failure(share, exc, session) from exc
            for _, doc_id, _, _ in found:
                if doc_id in seen:
                    raise ListingError(
                        f"two files have the document id {doc_id!r}: give locations whose last folder "
                        "names differ, or their common parent folder",
                        retryable=False,
                    )
                seen.add(doc_id)
            for ref in self._refs(share, found, unmapped):  # files deleted meanwhile are left out
                refs[ref.doc_id] = ref
        nobody = sum(1 for ref in refs.values() if not ref.acl and not ref.problem)
        if nobody:
            shown = ", ".join(sorted(unmapped)[:SHOWN_SIDS]) or "none (denied or unreadable DACLs)"
            log.warning(
                "%d of %d SMB files map to no Lore access; SIDs that may read them but are not in the "
                "directory file's accounts: %s",
                nobody,
                len(refs),
                shown,
            )
            if unmapped:
                self.notes = [f"accounts that may read them but are not mapped: {shown}"]
        return list(refs.values())

    def _refs(self, share: Share, found: list[Found], unmapped: set[str]) -> list[DocumentRef]:
        """The refs of the files found, their security descriptors read over `readers` connections at
        once (one round trip per file: on a real network the latency, not the server, is the cost)."""
        from smbprotocol.exceptions import SMBConnectionClosed

        n = self.readers
        slices = [found[i::n] for i in range(n)] if n > 1 and len(found) >= 4 * n else [found]

        def read(part: list[Found]) -> tuple[list[DocumentRef], set[str]]:
            for attempt in range(1, CONNECT_TRIES + 1):
                missing: set[str] = set()
                with self._session(share) as session:
                    try:
                        made = [self._ref(share, item, session, missing) for item in part]
                    except ListingError:
                        raise
                    except Exception as exc:
                        dropped = isinstance(exc, SMBConnectionClosed) or (
                            isinstance(exc, OSError) and exc.errno in DROPPED
                        )
                        if not dropped or attempt == CONNECT_TRIES:
                            raise self._failure(share, exc, session) from exc
                        log.info("%s closed a connection (%s): reading again on a new one", share.host, exc)
                        continue
                return [ref for ref in made if ref is not None], missing
            raise AssertionError("unreachable")

        with ThreadPoolExecutor(max_workers=len(slices), thread_name_prefix="lore-smb") as pool:
            done = list(pool.map(read, slices))
        for _, missing in done:
            unmapped |= missing
        by_id = {ref.doc_id: ref for made, _ in done for ref in made}
        return [by_id[doc_id] for _, doc_id, _, _ in found if doc_id in by_id]  # in the walk's order

    def _doc_id(self, share: Share, rel: str) -> str:
        """The path relative to the location, prefixed with its name when the source has several."""
        if not rel:  # the location is a file
            return share.name
        return f"{share.name}/{rel}" if len(self.shares) > 1 else rel

    def _ref(
        self, share: Share, found: Found, session: dict[str, Any], unmapped: set[str]
    ) -> DocumentRef | None:
        """The file's ref with its acl (a failed entry readable by nobody when its DACL cannot be read);
        None when it was deleted while the share was being listed."""
        rel, doc_id, entry, problem = found
        if entry is None:
            return DocumentRef.failed(doc_id, problem, url=share.url(rel.rstrip("/")))
        info = entry.smb_info
        path = share.unc(rel)
        try:
            sd = query_security(path, **session)
        except OSError as exc:
            status = getattr(exc, "ntstatus", None)
            if exc.errno == errno.ENOENT:
                return None
            if status is None or status in SESSION_LOST:
                raise  # the connection, not this file: the listing fails
            why = (
                f"Lore's account {self.user} may not read its permissions (READ_CONTROL)"
                if status == ACCESS_DENIED
                else f"its permissions cannot be read ({_cause(exc)})"
            )
            log.warning("%s: %s: nobody gets it", path, why)
            return DocumentRef.failed(doc_id, f"{why}: nobody may read it in Lore", url=share.url(rel))
        except DescriptorError as exc:  # a descriptor Lore cannot read: nobody, rather than a guess
            log.warning("%s: %s: nobody gets it", path, exc)
            return DocumentRef.failed(doc_id, f"{exc}: nobody may read it in Lore", url=share.url(rel))
        acl = access_of(sd, self.directory)
        if not acl:
            unmapped |= unmapped_readers(sd, self.directory)
        written, changed = info.last_write_time, info.change_time
        return DocumentRef(
            doc_id=doc_id,
            version=f"{info.end_of_file}:{written.timestamp():.6f}:{changed.timestamp():.6f}",
            acl=acl,
            updated_at=written,
            title=readable_stem(Path(entry.name)),
            url=share.url(rel),
            size=info.end_of_file,
        )

    def _failure(self, share: Share, exc: Exception, session: dict[str, Any]) -> ListingError:
        """What went wrong, and how to fix it, as the source's status."""
        from smbprotocol.exceptions import SMBException

        status, code = getattr(exc, "ntstatus", None), getattr(exc, "errno", None)
        if status in SIGN_IN_REFUSED:
            return ListingError(
                f"{share.host} refused the sign-in of {self.user} ({SIGN_IN_REFUSED[status]}): check user= "
                "and the password in the source's credentials",
                retryable=False,
            )
        if status == ACCESS_DENIED or code == errno.EACCES:
            return ListingError(
                f"{self.user} may not list {getattr(exc, 'filename', None) or share.unc()}: grant it read "
                "access to the folder on the server",
                retryable=False,
            )
        if code == errno.ENOENT:
            return ListingError(self._missing(share, session), retryable=False)
        if isinstance(exc, OSError) and exc.strerror:
            return ListingError(f"cannot list {share.unc()}: {exc.strerror}")
        if isinstance(exc, ValueError | OSError | SMBException):  # refused, timed out, connection lost
            return ListingError(
                f"cannot reach the SMB server {share.host}:{share.port} ({_cause(exc)}): check that it is up "
                "and that the location's server and port are right"
            )
        log.exception("listing %s failed", share.unc())
        return ListingError(f"cannot list {share.unc()}: {_cause(exc)}")

    def _missing(self, share: Share, session: dict[str, Any]) -> str:
        """Which part of a location that does not exist is wrong: the share or the folder."""
        import smbclient

        try:
            smbclient.stat(share.model_copy(update={"folder": ""}).unc(), **session)
        except Exception:
            return f"share {share.share!r} does not exist on {share.host}: check the location"
        return f"folder {share.folder!r} does not exist in share {share.share!r}: check the location"

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """The file, streamed into `workdir` under its own name; ValueError past the size limit."""
        return await asyncio.to_thread(self._fetch, ref, workdir)

    def _fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        import smbclient
        from smbprotocol.exceptions import SMBException

        share, rel = self._locate(ref.url)
        name = PurePosixPath(unquote(urlparse(ref.url).path)).name
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in SUPPORTED:  # say so without downloading it
            known = ", ".join(sorted(SUPPORTED))
            raise ValueError(f"unsupported file type {suffix or '(none)'} (supported: {known})")
        target = workdir / hashlib.sha256(ref.doc_id.encode()).hexdigest()[:16] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with (
                self._session(share) as session,
                smbclient.open_file(share.unc(rel), mode="rb", share_access="rwd", **session) as remote,
                target.open("wb") as local,
            ):
                total = 0
                while block := remote.read(BLOCK):
                    total += len(block)
                    if total > self.max_bytes:
                        raise _TooLarge(f"file too large (more than {self.max_bytes / 1_000_000:g} MB)")
                    local.write(block)
        except (_TooLarge, OSError):
            target.unlink(missing_ok=True)
            raise
        except (SMBException, ValueError) as exc:  # connection refused or lost: this document fails
            target.unlink(missing_ok=True)
            raise OSError(f"cannot read {ref.url}: {_cause(exc)}") from exc
        return target

    def _locate(self, url: str) -> tuple[Share, str]:
        """The location a listed URL belongs to, and the path relative to it ("" for a file location)."""
        for share in self.shares:
            root = share.url("")
            if url == root:
                return share, ""
            if url.startswith(root + "/"):
                return share, unquote(url[len(root) + 1 :])
        raise OSError(f"{url} is not under this source's locations")


class _TooLarge(ValueError):
    pass


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
