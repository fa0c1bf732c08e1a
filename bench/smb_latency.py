"""SMB listings over added network latency: one connection reading the files' security descriptors
against several at once (`SmbConnector(readers=N)`).

Loopback has no latency, so a TCP proxy between the connector and the real Samba of the tests holds every
forwarded chunk for `delay` seconds, each way: a stand-in for a file server across a LAN or a WAN (this
machine has no netem). Part of the `connectors` section of `bench.run`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from pydantic import BaseModel

from bench.common import table
from bench.connectors import MAX_BYTES, off_loop, timed_listing, write_notes
from ingestion.connectors.smb import READERS, SmbConnector, parse_location
from knowledge.access import Directory
from tests.conftest import free_port
from tests.samba_server import running_samba


class LatencyRow(BaseModel):
    """Median listing times at one added delay, with one connection and with `readers`."""

    delay_ms: float
    files: int
    one_s: float
    many_s: float
    readers: int
    same: bool  # both listings gave the same refs


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while data := await reader.read(1 << 16):
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _proxy(target: int, delay: float) -> tuple[asyncio.Server, int]:
    """A TCP proxy on a free loopback port to `target`, delaying every chunk by `delay` each way."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(_pipe(reader, up_writer, delay), _pipe(up_reader, writer, delay))

    port = free_port()
    return await asyncio.start_server(handle, "127.0.0.1", port), port


async def measure(runs: int, files: int, delays_ms: list[float]) -> list[LatencyRow]:
    """Listings of `files` files through the proxy at each delay, `runs` interleaved rounds."""
    rows = []
    directory = Directory(accounts={"S-1-1-0": ["public"]})
    with tempfile.TemporaryDirectory() as tmp:
        async with off_loop(running_samba(Path(tmp))) as samba:
            await asyncio.to_thread(write_notes, samba.root / "many", files)
            for delay_ms in delays_ms:
                server, port = await _proxy(samba.port, delay_ms / 1000)
                location = samba.location("many").replace(f":{samba.port}/", f":{port}/")

                def connector(readers: int, where: str = location) -> SmbConnector:
                    share = parse_location(where)
                    return SmbConnector([share], samba.user, samba.password, directory, MAX_BYTES, readers)

                await timed_listing(connector(READERS))  # uncounted: first connections
                one, many, same = [], [], True
                for _ in range(runs):
                    took, alone = await timed_listing(connector(1))
                    one.append(took)
                    took, together = await timed_listing(connector(READERS))
                    many.append(took)
                    same = same and alone == together and len(alone) == files
                server.close()
                await server.wait_closed()
                rows.append(
                    LatencyRow(
                        delay_ms=delay_ms,
                        files=files,
                        one_s=statistics.median(one),
                        many_s=statistics.median(many),
                        readers=READERS,
                        same=same,
                    )
                )
    return rows


def report(rows: list[LatencyRow]) -> str:
    """The Markdown of the latency table."""
    body = [
        [
            f"{r.delay_ms:g} ms each way",
            f"{r.files:,}",
            f"{1000 * r.one_s:.0f}",
            f"{1000 * r.many_s:.0f}",
            f"{r.many_s / r.one_s:.2f}",
            "yes" if r.same else "**NO**",
        ]
        for r in rows
    ]
    return (
        "**SMB over added latency** (bench/smb_latency.py): the same listing through a TCP proxy that "
        "holds every chunk for the delay, each way; the files' security descriptors read over one "
        f"connection against {rows[0].readers if rows else READERS} at once. Medians of interleaved "
        "rounds.\n\n"
        + table(
            ["added delay", "files", "1 connection ms", f"{READERS} connections ms", "ratio", "same refs"],
            body,
        )
        + "\n"
    )
