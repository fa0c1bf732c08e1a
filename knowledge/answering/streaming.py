"""Clean a streamed answer as it arrives: invalid markers never shown, valid ones already renumbered.

The cleaned text of a prefix is a prefix of the cleaned text of the whole answer (numbers are assigned by
first use), so the visible text only ever grows. What could still change is held back: a trailing `[..`
that has not closed, the spaces before it, and a reply that may be turning into the not-found marker.
"""

from __future__ import annotations

from collections.abc import Collection

from knowledge.answering.citations import partial_marker_start, renumber


class MarkerFilter:
    """Feed raw deltas in, get visible deltas out; `finish()` flushes what was held back."""

    def __init__(self, valid: Collection[int], not_found_marker: str = "") -> None:
        self.valid = frozenset(valid)
        self.not_found_marker = not_found_marker
        self.raw = ""
        self.shown = ""

    @property
    def not_found(self) -> bool:
        """True once the reply contains the not-found marker."""
        return bool(self.not_found_marker) and self.not_found_marker in self.raw

    def _may_become_not_found(self) -> bool:
        head = self.raw.lstrip()
        return bool(self.not_found_marker) and self.not_found_marker.startswith(head)

    def _emit(self, upto: int) -> str:
        if self.not_found:
            return ""
        cleaned = renumber(self.raw[:upto], self.valid).text
        if not cleaned.startswith(self.shown):  # cannot happen by construction; never show a rewrite
            return ""
        delta = cleaned[len(self.shown) :]
        self.shown = cleaned
        return delta

    def feed(self, delta: str) -> str:
        """Add raw text; return the newly visible text (may be empty)."""
        self.raw += delta
        if self._may_become_not_found():
            return ""
        start = partial_marker_start(self.raw)
        upto = len(self.raw) if start is None else start
        upto = len(self.raw[:upto].rstrip(" \t"))  # spaces go if the next marker is dropped
        return self._emit(upto)

    def finish(self) -> str:
        """The rest of the visible text once the reply is complete."""
        return self._emit(len(self.raw))
