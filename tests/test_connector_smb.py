"""The SMB connector against a real Samba server on loopback (started once for the module): listing with
versions and access from each file's security descriptor, streamed fetches with a size limit, listing
failures that say how to fix them, and the whole path from `/lore add smb` to answers."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient
from smbprotocol.security_descriptor import (
    AccessAllowedAce,
    AccessDeniedAce,
    AclPacket,
    SDControl,
    SIDPacket,
    SMB2CreateSDBuffer,
)

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.smb import SmbConnector
from ingestion.connectors.smb_acl import access_of, parse_security_descriptor
from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState
from knowledge.access import Directory, Principal
from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.server import ServerIndex
from knowledge.settings import Settings
from knowledge.sources import Credentials, Source
from lore.runtime import engine_over
from tests.conftest import free_port
from tests.samba_server import Samba, running_samba
from tests.slack_standin import SlackStandin
from tests.sources_harness import deployed, docs_found, said, work

ENV = "LORE_SECRET_TEST_SMB_PASSWORD"
FINANCE_GID = 2001  # no /etc/group entry needed: Samba shows it as S-1-22-2-2001
ACCOUNTS = {"S-1-1-0": ["public"], f"S-1-22-2-{FINANCE_GID}": ["group:finance"]}
EVERYONE, FINANCE, OTHER = "S-1-1-0", f"S-1-22-2-{FINANCE_GID}", "S-1-5-21-1-2-3-1104"
READ, WRITE = 0x00120089, 0x00000116


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Samba]:
    with running_samba(tmp_path_factory.mktemp("samba")) as server:
        yield server


@pytest.fixture
def smb_settings(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, samba: Samba
) -> Settings:
    """Settings whose directory maps Everyone to public and unix group 2001 to finance; the password set."""
    directory = tmp_path / "directory.yaml"
    directory.write_text(Directory(accounts=ACCOUNTS).model_dump_json(), encoding="utf-8")  # JSON is YAML
    monkeypatch.setenv(ENV, samba.password)
    return settings.model_copy(update={"directory_file": directory})


def put(root: Path, rel: str, text: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def share_folder(samba: Samba, name: str) -> Path:
    """A folder of the share that belongs to one test, with a public, a finance and an unmapped file."""
    root = samba.root / name
    put(root, "public.md", "# Public\n\nThe canteen opens at noon.\n")
    put(root, "finance/q3.md", "# Q3\n\nRevenue grew.\n", mode=0o640, gid=FINANCE_GID)
    put(root, "secret.md", "# Secret\n\nOnly uid 3001.\n", mode=0o600, uid=3001, gid=3002)
    put(root, ".hidden.md", "hidden\n")
    put(root, "~$lock.docx", "office lock file\n")
    return root


def smb_source(samba: Samba, *folders: str, share: str | None = None, port: int | None = None) -> Source:
    base = f"smb://127.0.0.1:{port or samba.port}/{share or samba.share}"
    return Source(
        id="share",
        kind="smb",
        location=[f"{base}/{f}" for f in folders],
        access=[],
        options={"user": samba.user},
        credentials=Credentials(env=ENV),
    )


def connector(
    samba: Samba, settings: Settings, *folders: str, share: str | None = None, port: int | None = None
) -> SmbConnector:
    return SmbConnector.from_source(smb_source(samba, *folders, share=share, port=port), settings)


async def listed(conn: SmbConnector) -> dict[str, DocumentRef]:
    return {ref.doc_id: ref async for ref in conn.list_documents()}


# ----- security descriptors (no server): DACLs built by smbprotocol's own encoder


def sid(text: str) -> SIDPacket:
    packet = SIDPacket()
    packet.from_string(text)
    return packet


def ace(kind: type[AccessAllowedAce] | type[AccessDeniedAce], who: str, mask: int, flags: int = 0) -> object:
    entry = kind()
    entry["ace_flags"] = flags
    entry["mask"] = mask
    entry["sid"] = sid(who)
    return entry


def descriptor(*aces: object, null_dacl: bool = False) -> bytes:
    sd = SMB2CreateSDBuffer()
    sd["control"].set_flag(SDControl.SELF_RELATIVE)
    sd.set_owner(sid(OTHER))
    sd["control"].set_flag(SDControl.DACL_PRESENT)  # without a DACL's offset: a null DACL
    if not null_dacl:
        acl = AclPacket()
        acl["aces"] = list(aces)
        sd.set_dacl(acl)
    return bytes(sd.pack())


OBJECT_DENY = struct.pack("<BBHI", 0x06, 0, 16, READ) + b"\0" * 8  # a deny Lore cannot parse


@pytest.mark.parametrize(
    ("aces", "expected"),
    [
        ([ace(AccessAllowedAce, EVERYONE, READ)], ["public"]),
        ([ace(AccessAllowedAce, FINANCE, 0x80000000)], ["group:finance"]),  # GENERIC_READ
        (
            [ace(AccessAllowedAce, FINANCE, 0x10000000), ace(AccessAllowedAce, EVERYONE, READ)],
            ["group:finance", "public"],
        ),
        ([ace(AccessAllowedAce, EVERYONE, WRITE)], []),  # no read right
        ([ace(AccessAllowedAce, OTHER, READ)], []),  # unmapped: nobody, never public
        ([ace(AccessDeniedAce, OTHER, READ), ace(AccessAllowedAce, EVERYONE, READ)], []),
        ([ace(AccessDeniedAce, EVERYONE, READ), ace(AccessAllowedAce, FINANCE, READ)], []),
        ([ace(AccessDeniedAce, OTHER, WRITE), ace(AccessAllowedAce, EVERYONE, READ)], ["public"]),
        (
            [ace(AccessDeniedAce, OTHER, READ, flags=0x08), ace(AccessAllowedAce, FINANCE, READ)],
            ["group:finance"],
        ),
        (
            [ace(AccessAllowedAce, EVERYONE, READ, flags=0x08), ace(AccessAllowedAce, FINANCE, READ)],
            ["group:finance"],
        ),
        ([], []),  # an empty DACL: nobody
    ],
)
def test_a_dacl_maps_to_the_access_of_the_sids_that_may_read(aces: list[object], expected: list[str]) -> None:
    sd = parse_security_descriptor(descriptor(*aces))
    assert sd.owner == OTHER
    assert access_of(sd, Directory(accounts=ACCOUNTS)) == expected


def test_a_null_dacl_is_everyone_and_an_unparsed_deny_is_nobody() -> None:
    directory = Directory(accounts=ACCOUNTS)
    assert access_of(parse_security_descriptor(descriptor(null_dacl=True)), directory) == ["public"]
    good = descriptor(ace(AccessAllowedAce, EVERYONE, READ))
    dacl_at = struct.unpack_from("<I", good, 16)[0]
    count = struct.unpack_from("<H", good, dacl_at + 4)[0]
    size = struct.unpack_from("<H", good, dacl_at + 2)[0]
    patched = bytearray(good)
    struct.pack_into("<HH", patched, dacl_at + 2, size + len(OBJECT_DENY), count + 1)
    patched[dacl_at + 8 : dacl_at + 8] = OBJECT_DENY  # the object deny first, then the allow
    assert access_of(parse_security_descriptor(bytes(patched)), directory) == []
    with pytest.raises(ValueError, match="malformed"):
        parse_security_descriptor(good[:30])


# ----- against Samba


async def test_a_listing_has_every_visible_file_with_access_from_its_security_descriptor(
    samba: Samba, smb_settings: Settings
) -> None:
    share_folder(samba, "listing")
    made = connector(samba, smb_settings, "listing")
    refs = await listed(made)
    assert set(refs) == {"public.md", "finance/q3.md", "secret.md"}
    assert refs["public.md"].acl == ["public"]  # other r-- is Everyone; the owner root maps to nothing
    assert refs["finance/q3.md"].acl == ["group:finance"]
    assert refs["secret.md"].acl == []  # only S-1-22-1-3001 may read it: unmapped, so nobody
    assert made.notes == ["accounts that may read them but are not mapped: S-1-22-1-3001"]
    ref = refs["finance/q3.md"]
    assert ref.url == f"smb://127.0.0.1:{samba.port}/docs/listing/finance/q3.md"
    assert ref.title == "Q3" and ref.size == len("# Q3\n\nRevenue grew.\n")
    assert ref.updated_at.utcoffset() is not None


async def test_versions_follow_edits_and_access_follows_chmod_and_chgrp(
    samba: Samba, smb_settings: Settings
) -> None:
    root = share_folder(samba, "versions")
    conn = connector(samba, smb_settings, "versions")
    before = await listed(conn)
    (root / "public.md").write_text("# Public\n\nThe canteen opens at one.\n", encoding="utf-8")
    os.chmod(root / "finance/q3.md", 0o644)
    os.chown(root / "secret.md", 0, FINANCE_GID)
    os.chmod(root / "secret.md", 0o640)
    after = await listed(conn)
    assert after["public.md"].version != before["public.md"].version
    assert after["finance/q3.md"].acl == ["group:finance", "public"]
    assert after["secret.md"].acl == ["group:finance"]


async def test_a_big_folder_is_read_over_several_connections_in_walk_order(
    samba: Samba, smb_settings: Settings
) -> None:
    root = share_folder(samba, "big")
    for n in range(30):  # enough files for the descriptors to be read over several connections
        put(
            root,
            f"team/{n:02d}.md",
            f"# Note {n}\n\nText {n}.\n",
            mode=0o640 if n % 2 else 0o644,
            gid=FINANCE_GID,
        )
    made = connector(samba, smb_settings, "big")
    refs = [ref async for ref in made.list_documents()]
    assert [r.doc_id for r in refs] == ["finance/q3.md", "public.md", "secret.md"] + [
        f"team/{n:02d}.md" for n in range(30)
    ]
    team = {r.doc_id: r.acl for r in refs if r.doc_id.startswith("team/")}
    assert all(
        acl == (["group:finance"] if int(d[5:7]) % 2 else ["group:finance", "public"])
        for d, acl in team.items()
    )
    assert made.notes == ["accounts that may read them but are not mapped: S-1-22-1-3001"]


async def dropping_proxy(target: int, drop: int) -> tuple[asyncio.Server, int]:
    """A TCP proxy on a free loopback port to `target` that closes its `drop`-th connection at once (a
    server dropping a connection) and forwards the others."""
    accepted = 0

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == drop:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    port = free_port()
    return await asyncio.start_server(handle, "127.0.0.1", port), port


async def test_a_reader_whose_connection_is_dropped_reads_again_on_a_new_one(
    samba: Samba, smb_settings: Settings
) -> None:
    root = share_folder(samba, "dropped")
    for n in range(20):  # four readers: connection 1 walks, 2 to 5 read descriptors
        put(root, f"notes/{n:02d}.md", f"# Note {n}\n", gid=FINANCE_GID)
    server, port = await dropping_proxy(samba.port, drop=3)
    async with server:
        refs = await listed(connector(samba, smb_settings, "dropped", port=port))
    assert sorted(d for d in refs if d.startswith("notes/")) == [f"notes/{n:02d}.md" for n in range(20)]


async def test_several_locations_prefix_ids_with_their_folder(samba: Samba, smb_settings: Settings) -> None:
    put(samba.root / "multi/a", "one.md", "# One\n")
    put(samba.root / "multi/b", "two.md", "# Two\n")
    refs = await listed(connector(samba, smb_settings, "multi/a", "multi/b"))
    assert set(refs) == {"a/one.md", "b/two.md"}


async def test_fetch_streams_a_file_and_stops_at_the_size_limit(
    samba: Samba, smb_settings: Settings, tmp_path: Path
) -> None:
    root = share_folder(samba, "fetching")
    put(root, "big.txt", "x" * 3000)
    conn = connector(samba, smb_settings.model_copy(update={"max_file_mb": 0.002}), "fetching")
    refs = await listed(conn)
    assert refs["big.txt"].size == 3000  # the engine skips it before fetching
    workdir = tmp_path / "work"
    workdir.mkdir()
    path = await conn.fetch(refs["finance/q3.md"], workdir)
    assert path.name == "q3.md" and path.read_text(encoding="utf-8") == "# Q3\n\nRevenue grew.\n"
    with pytest.raises(ValueError, match="too large"):
        await conn.fetch(refs["big.txt"].model_copy(update={"size": None}), workdir)
    assert [p.name for p in await asyncio.to_thread(workdir.rglob, "*") if p.is_file()] == ["q3.md"]
    (root / "secret.md").unlink()
    with pytest.raises(OSError):
        await conn.fetch(refs["secret.md"], workdir)


async def test_a_sync_skips_a_file_over_the_limit_and_indexes_the_rest(
    samba: Samba, smb_settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    root = share_folder(samba, "limits")
    put(root, "big.txt", "word " * 600)
    limited = smb_settings.model_copy(update={"max_file_mb": 0.002})
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    state = FileSyncState(tmp_path / "state.sqlite")
    engine = engine_over(limited, index, embedder, ParsePool(workers=0), state)
    result = await engine.sync("share", connector(samba, limited, "limits"))
    assert (result.added, result.failed) == (3, 1)
    assert result.errors[0].doc_id == "big.txt" and "too large" in result.errors[0].reason
    grants = ["public", "group:finance"]
    indexed = {
        d
        for d in ("public.md", "finance/q3.md", "big.txt")
        if await index.document_chunks("share", d, grants)
    }
    assert indexed == {"public.md", "finance/q3.md"}
    await state.close()
    await index.close()


async def test_a_wrong_password_is_refused_for_good_and_says_what_to_check(
    samba: Samba, smb_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "not-the-Pa55word")
    with pytest.raises(ListingError) as caught:
        await listed(connector(samba, smb_settings, "anything"))
    assert not caught.value.retryable
    assert "refused the sign-in" in str(caught.value) and "credentials" in str(caught.value)
    assert "not-the-Pa55word" not in str(caught.value)


async def test_an_unreachable_server_is_a_listing_error_worth_retrying(
    samba: Samba, smb_settings: Settings
) -> None:
    with pytest.raises(ListingError) as caught:
        await listed(connector(samba, smb_settings, "listing", port=free_port()))
    assert caught.value.retryable and "cannot reach the SMB server" in str(caught.value)


@pytest.mark.parametrize(
    ("share", "folder", "message"),
    [
        ("nope", "x", "share 'nope' does not exist"),
        (None, "missing/deeper", "folder 'missing/deeper' does not"),
    ],
)
async def test_a_wrong_share_or_folder_says_which(
    samba: Samba, smb_settings: Settings, share: str | None, folder: str, message: str
) -> None:
    with pytest.raises(ListingError, match=message) as caught:
        await listed(connector(samba, smb_settings, folder, share=share or samba.share))
    assert not caught.value.retryable


# ----- end to end: `/lore add smb`, the arq worker, answers by access

HOLIDAYS = "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n"
PAYROLL = "# Payroll\n\nThe Zorblax bonus pool of the finance team is 4 percent of payroll.\n"
LAPTOPS = "# Laptops\n\nNew hires receive a laptop from IT on their first day.\n"
BONUS = "How big is the Zorblax bonus pool?"
FINANCE_PERSON = Principal.of(groups=["finance"])


async def test_an_admin_adds_a_share_and_lore_answers_by_each_files_permissions(
    samba: Samba,
    smb_settings: Settings,
    slack: SlackStandin,
    embedder: CachedEmbedder,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = samba.root / "e2e"
    put(root, "holidays.md", HOLIDAYS)
    put(root, "finance/payroll.md", PAYROLL, mode=0o640, gid=FINANCE_GID)
    put(root, "laptops.md", LAPTOPS)
    async with deployed(smb_settings, slack, embedder, redis_url, tmp_path) as lore:
        bot, kb, index, registry, context = lore.bot, lore.kb, lore.index, lore.registry, lore.context
        line = f"add smb share {samba.location('e2e')} user={samba.user} credentials={ENV}"
        assert "Added *share*" in (await said(bot, line))["text"]
        await work(context, redis_url)
        answer = await kb.ask("How many days of paid holiday do we get?", Principal.anonymous())
        assert "25 days" in answer.answer and answer.citations[0].doc_id == "holidays.md"
        answer = await kb.ask(BONUS, Principal.anonymous())
        assert "Zorblax" not in answer.answer
        assert "finance/payroll.md" not in {c.doc_id for c in answer.citations}
        answer = await kb.ask(BONUS, FINANCE_PERSON)
        assert "4 percent" in answer.answer and answer.citations[0].doc_id == "finance/payroll.md"
        assert answer.citations[0].url.startswith(f"smb://127.0.0.1:{samba.port}/docs/e2e/finance/")

        embedded = embedder.texts_embedded
        (root / "holidays.md").write_text(HOLIDAYS.replace("25", "30"), encoding="utf-8")
        (root / "laptops.md").unlink()
        await said(bot, "sync share")
        await work(context, redis_url)
        assert embedder.texts_embedded - embedded == len(
            await index.document_chunks("share", "holidays.md", ["public"])
        )
        assert "30 days" in (await kb.ask("How many days of paid holiday?", Principal.anonymous())).answer
        assert "laptops.md" not in await docs_found(kb, "laptop from IT", ["public"])

        os.chown(root / "finance/payroll.md", 0, 0)  # chgrp + chmod only: access changes, content does not
        os.chmod(root / "finance/payroll.md", 0o644)
        embedded = embedder.texts_embedded
        await said(bot, "sync share")
        await work(context, redis_url)
        assert embedder.texts_embedded == embedded
        assert "finance/payroll.md" in await docs_found(kb, "Zorblax bonus pool", ["public"])

        chunks = await index.count("share")
        monkeypatch.setenv(ENV, "not-the-Pa55word")  # a listing failure: the index stays as it was
        await said(bot, "sync share")
        await work(context, redis_url)
        record = await registry.get("share")
        assert record is not None and record.status.ok is False
        assert "refused the sign-in" in record.status.summary
        assert await index.count("share") == chunks
        assert "holidays.md" in await docs_found(kb, "paid holiday", ["public"])
