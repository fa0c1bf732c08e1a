"""Access first on a web site (a real nginx): the admin narrows a path of the site in the registry while that
page grows past the size limit; a real search shows its old text to the narrowed group only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from knowledge.sources import Source
from tests.change_harness import found, synced, world
from tests.nginx_server import Site, nginx_site

PAGE = "<html><head><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
PUBLIC, HR = ["public"], ["public", "group:hr"]


def page(title: str, body: str) -> str:
    return PAGE.format(title=title, body=body)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    docs = tmp / "www" / "docs"
    docs.mkdir(parents=True)
    links = '<p><a href="pay.html">Pay</a> and <a href="holidays.html">Holidays</a></p>'
    (docs / "index.html").write_text(page("Handbook", links))
    (docs / "pay.html").write_text(page("Pay", "<p>The Quokka bonus pool is 4 percent of payroll.</p>"))
    (docs / "holidays.html").write_text(page("Holidays", "<p>Everyone gets 25 days of paid holiday.</p>"))
    with nginx_site(tmp / "www", tmp / "nginx") as running:
        yield running


def source(site: Site, **update: object) -> Source:
    return Source(id="site", kind="web", location=[site.url("docs/")], access=["public"]).model_copy(
        update=update
    )


async def test_a_path_narrowed_while_its_page_grows_past_the_limit_keeps_the_old_text_for_the_group(
    site: Site, settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    pay = Path(site.state).parent / "www" / "docs" / "pay.html"
    async with world(settings.model_copy(update={"max_file_mb": 0.02}), embedder, tmp_path) as w:
        await w.registry.put(source(site))
        assert (await synced(w, "site")).ok
        assert "Quokka" in (await found(w, "Quokka bonus pool", PUBLIC))["pay.html"]

        await w.registry.put(source(site, overrides={"pay.html": ["group:hr"]}))  # narrowed to hr …
        pay.write_text(page("Pay", "<p>The Quokka bonus pool grows.</p>" * 1000))  # … and too large now
        status = await synced(w, "site")

        assert status.failed == 1 and status.errors[0].startswith("pay.html: ")
        assert "too large" in status.errors[0]
        assert "pay.html" not in await found(w, "Quokka bonus pool", PUBLIC)
        assert "4 percent" in (await found(w, "Quokka bonus pool", HR))["pay.html"]
        assert "holidays.html" in await found(w, "paid holiday", PUBLIC)
