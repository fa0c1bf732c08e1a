"""The retrieval measure of the quality benchmark over variants of the settings: how the defaults are chosen.

    .venv/bin/python -m bench.quality.sweep [--work DIR] [--corpora handbook,domainrag,cmrc2018]
        [--set NAME=VALUE ...] [--vary NAME=V1,V2,... ...] [--modes hybrid] [--quick]

Every `--vary` changes one setting of the base (the defaults, plus `--set`) at a time; the base is measured
too. Variants that index alike (see `bench.quality.indexes.fingerprint`) share one index, so a query-time
setting (fusion weights, rrf_k, prefetch, max chunks per document, window tokens) costs only its questions;
an index-time one (chunk size, overlap, heading weight) is built once and kept in the work dir.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, get_args

from bench.common import DATA, bench_settings, table
from bench.quality.indexes import corpus_kb, fingerprint
from bench.quality.retrieval import Row, measure
from bench.quality.suite import standard_parts
from knowledge.retrieval import Mode, Retriever
from knowledge.settings import Settings


def parse(pairs: list[str]) -> dict[str, list[str]]:
    """`NAME=V1,V2` pairs -> {name: [values]}."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        name, _, values = pair.partition("=")
        out[name.strip()] = values.split(",")
    return out


def variants(base: dict[str, Any], vary: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The base, then the base with one setting changed at a time."""
    out = [dict(base)]
    for name, values in vary.items():
        out += [{**base, name: value} for value in values if str(base.get(name)) != value]
    return out


def label(overrides: dict[str, Any], base: dict[str, Any]) -> str:
    """What a variant changes from the base."""
    changed = [f"{k}={v}" for k, v in overrides.items() if base.get(k) != v]
    return ", ".join(changed) or "base"


async def sweep(
    work: Path,
    corpora: list[str],
    base: dict[str, Any],
    vary: dict[str, list[str]],
    modes: list[Mode],
    quick: bool,
) -> list[tuple[str, list[Row]]]:
    """Rows of every variant, grouped by index so that each index is opened once."""
    found: dict[str, list[Row]] = defaultdict(list)
    chosen = variants(base, vary)
    with standard_parts(DATA, quick) as parts:
        for part in parts:
            if part.corpus.name.removesuffix("-quick") not in corpora:
                continue
            groups: dict[str, list[tuple[dict[str, Any], Settings]]] = defaultdict(list)
            for overrides in chosen:
                settings = bench_settings(work, **overrides)
                groups[fingerprint(settings)].append((overrides, settings))
            for members in groups.values():
                async with corpus_kb(work, part.corpus, members[0][1]) as kb:
                    for overrides, settings in members:
                        kb.settings = settings.model_copy(update={"data_dir": kb.settings.data_dir})
                        kb.retriever = Retriever(kb.index, kb.embedder, kb.sparse, kb.settings)
                        rows, _ = await measure(part.corpus, kb, None, part.cases, modes)
                        found[label(overrides, base)] += rows
                        print(f"  {part.corpus.name} {label(overrides, base)} done", file=sys.stderr)
    return [(name, found[name]) for name in [label(o, base) for o in chosen]]


SHORT = {
    "single_text": "single",
    "multi-hop_reasoning": "multi-hop",
    "negation_exclusion": "negation",
    "temporal_reference": "temporal",
    "contextual_anaphora": "follow-up",
}


def report(results: list[tuple[str, list[Row]]], mode: str) -> str:
    """One line per variant; a cell per corpus and kind: evidence (English) or recall@5 (Chinese) / MRR@10."""
    keys = list(dict.fromkeys((r.corpus, r.kind) for _, rows in results for r in rows if r.system == mode))
    lines = []
    for name, rows in results:
        by_key = {(r.corpus, r.kind): r for r in rows if r.system == mode}
        cells = []
        for key in keys:
            r = by_key.get(key)
            first = None if r is None else r.evidence if r.lang == "en" else r.recall5
            cells.append("" if r is None else f"{first:.3f} / {r.mrr10:.3f}")
        lines.append([name, *cells])
    heads = [f"{corpus.removesuffix('-quick')} {SHORT.get(kind, kind)}" for corpus, kind in keys]
    return table(["variant", *heads], lines)


def main() -> int:
    """Parse arguments, sweep, print one table per mode."""
    parser = argparse.ArgumentParser(prog="bench.quality.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(".lore-bench"))
    parser.add_argument("--corpora", default="handbook,domainrag", help="of handbook, domainrag, cmrc2018")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE: a base setting")
    parser.add_argument("--vary", action="append", default=[], help="NAME=V1,V2: values to try")
    parser.add_argument("--modes", default="hybrid", help=f"of {', '.join(get_args(Mode))}")
    parser.add_argument("--quick", action="store_true", help="a few questions per kind")
    args = parser.parse_args()
    base = {name: values[0] for name, values in parse(args.set).items()}
    modes: list[Mode] = [m for m in get_args(Mode) if m in args.modes.split(",")]
    results = asyncio.run(
        sweep(args.work, args.corpora.split(","), base, parse(args.vary), modes, args.quick)
    )
    for mode in modes:
        print(f"\n{mode} (`{' '.join(sys.argv)}`)\n\n{report(results, mode)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
