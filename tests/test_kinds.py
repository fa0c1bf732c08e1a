"""Kinds of source as plug-ins: the contract, the catalog found through the `lore.connectors` entry points,
and what is generated from the declarations (forms, usage lines, checks, the worker's builder)."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from importlib.metadata import EntryPoint, entry_points
from importlib.util import find_spec
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.admin.source_input import ADD_USAGE, fields_from_line, source_from_fields
from bot.admin.views import add_modal, sources_text
from ingestion.connectors.base import ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.connectors.registry import builder_of, connector_for
from knowledge.kinds import fields
from knowledge.kinds.catalog import installed_kinds, load_kinds
from knowledge.kinds.contract import GROUP, LOCATION, ConnectorKind, FieldSpec, OptionSpec
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import Source, SourceRecord, SourceStatus
from lore.commands.sources import usage

LORES_OWN = ["files", "smb", "mediawiki", "confluence", "web", "lore-remote"]


def _declared(changes: dict[str, object] | None = None) -> ConnectorKind:
    values: dict[str, object] = {
        "name": "tickets",
        "label": "Tickets",
        "summary": "tickets of a tracker",
        "location_type": "url",
        "location_hint": "the tracker's URL",
        "options": [OptionSpec(name="project", help="the project key", required=True)],
        "fields": [
            fields.source_id("tickets"),
            FieldSpec(name=LOCATION, label="URL", hint="The tracker."),
            fields.access(),
            fields.option(
                OptionSpec(name="project", help="the project key", required=True), "Project", "OPS"
            ),
            fields.every(),
            fields.credentials("A LORE_SECRET_… variable.", "LORE_SECRET_T", optional=True),
        ],
        "usage": "<id> https://tracker project=OPS access=public",
        "connector": "tests.test_kinds:nowhere",
    }
    return ConnectorKind.model_validate(values | (changes or {}))


TICKETS = _declared()
RENAMED = _declared({"name": "other-name"})
NOT_A_KIND = {"name": "tickets"}


def _point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_lores_own_kinds_are_found_through_the_entry_points() -> None:
    catalog = installed_kinds()
    assert list(catalog.kinds) == LORES_OWN
    assert catalog.broken == {} and catalog.clashes == []
    assert catalog.kinds["lore-remote"].question_time and not catalog.kinds["files"].question_time


def test_a_kind_that_fails_to_load_is_reported_and_the_others_work() -> None:
    catalog = load_kinds(
        [
            _point("tickets", "tests.test_kinds:TICKETS"),
            _point("gone", "lore_package_that_is_not_installed.kind:KIND"),
            _point("odd", "tests.test_kinds:NOT_A_KIND"),
            _point("renamed", "tests.test_kinds:RENAMED"),
            _point("tickets", "tests.test_kinds:RENAMED"),
        ]
    )
    assert list(catalog.kinds) == ["tickets"]  # positive control: the good one is there
    assert "ModuleNotFoundError" in catalog.broken["gone"].error
    assert "not a ConnectorKind" in catalog.broken["odd"].error
    assert "under the entry point 'renamed'" in catalog.broken["renamed"].error
    assert catalog.clashes == ["kind 'tickets' is declared again by tests.test_kinds: ignored"]
    assert "its package tests.test_kinds failed to load (ValueError" in catalog.missing("renamed")
    unknown = catalog.missing("jira")
    assert "no installed package declares the kind 'jira' (installed: `tickets`)" in unknown


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"own_access": True}, "a 'access' field, which this kind does not take"),
        ({"credentials": "refused"}, "a 'credentials' field"),
        ({"credentials": "required"}, "credentials are required but their field is optional"),
        ({"options": []}, "option field 'project' is no option"),
        ({"connector": "nowhere"}, "is not 'module:callable'"),
        ({"name": "Bad Name"}, "String should match pattern"),
        ({"label": "x" * 76}, "at most 75 characters"),
        (
            {"options": [OptionSpec(name="every", help="clashes")]},
            "'every' has the name of a field every kind",
        ),  # Slack refuses a longer option: no modal at all
    ],
)
def test_a_declaration_that_contradicts_itself_is_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _declared(changes)


def test_a_kinds_rules_check_its_locations_and_options() -> None:
    assert TICKETS.location_problem("https://t.example.com") is None
    assert "invalid URL 'ftp://t'" in (TICKETS.location_problem("ftp://t") or "")
    assert TICKETS.check_options({"project": " OPS "}) == {"project": "OPS"}
    with pytest.raises(ValueError, match="needs project= \\(the project key\\)"):
        TICKETS.check_options({})
    with pytest.raises(ValueError, match="unknown option 'colour' for a tickets source"):
        TICKETS.check_options({"colour": "blue", "project": "OPS"})


def test_the_forms_and_usage_lines_list_every_installed_kind() -> None:
    select = add_modal("files", {})["blocks"][0]["element"]["options"]
    assert [o["value"] for o in select] == LORES_OWN
    for name in LORES_OWN:
        assert f"`/lore add {name} <id> " in ADD_USAGE
        assert f"lore sources add {name} <id> " in usage(installed_kinds())


def test_adding_a_source_of_a_kind_not_installed_is_refused_with_the_kinds() -> None:
    with pytest.raises(ValueError, match="unknown kind 'jsonfeed': Lore adds `files`, `smb`, `mediawiki`"):
        fields_from_line(["jsonfeed", "news", "https://n.example.com/feed.json", "access=public"])
    with pytest.raises(ValueError, match="unknown kind 'jsonfeed'"):
        source_from_fields("jsonfeed", {"source_id": "news"}, added_by="cli")


def test_a_stored_source_of_a_kind_not_installed_loads_and_says_why_it_cannot_sync(
    settings: Settings,
) -> None:
    stored = Source(id="news", kind="jsonfeed", location=["anything"], access=["public"])
    record = SourceRecord.model_validate_json(SourceRecord(source=stored).model_dump_json())
    assert record.source.kind == "jsonfeed" and refusals(record.source, settings) == {}
    with pytest.raises(ListingError, match="no installed package declares the kind 'jsonfeed'") as caught:
        connector_for(record.source, settings)
    assert caught.value.retryable is False
    shown = sources_text([record], time.time(), admin=True)
    assert "⚠️ no connector for kind 'jsonfeed'" in shown and "install the package" in shown
    failed = record.model_copy(
        update={"status": SourceStatus(ok=False, summary=f"listing failed: {caught.value}")}
    )
    assert "⚠️" not in sources_text([failed], time.time(), admin=True)  # said once, by the status


def test_the_worker_builds_a_connector_as_the_declaration_names_it(
    settings: Settings, tmp_path: object
) -> None:
    wiki = Source(id="wiki", location=["/srv/wiki"], access=["public"])
    assert isinstance(builder_of("files")(wiki, settings), FilesConnector)
    catalog = load_kinds([_point("tickets", "tests.test_kinds:TICKETS")])
    with pytest.raises(
        ListingError, match=r"tests.test_kinds:nowhere\) failed to load \(AttributeError"
    ) as caught:
        builder_of("tickets", catalog)
    assert caught.value.retryable is False


def test_loading_the_kinds_imports_no_connector() -> None:
    code = (
        "import sys; from knowledge.kinds.catalog import installed_kinds; import bot.admin.slash\n"
        "assert len(installed_kinds().kinds) >= 6\n"
        "print(sorted(m for m in sys.modules if m.startswith(('ingestion.connectors', 'smbprotocol'))))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_lores_declarations_import_only_the_contract() -> None:
    """A declaration is loaded by every process (the bot too): it may import nothing of Lore but
    knowledge.kinds, so that no layer pulls in another through the entry points."""
    for point in entry_points(group=GROUP):
        spec = find_spec(point.module)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        lores = {m for m in imported if m.split(".")[0] in ("knowledge", "bot", "ingestion", "api", "lore")}
        assert all(m == "knowledge.kinds" or m.startswith("knowledge.kinds.") for m in lores), (point, lores)
