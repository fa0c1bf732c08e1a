"""Context windows: small chunks are for matching, a window is for reading.

A hit's window is its chunk widened with its neighbours in the document, in reading order, up to
`LORE_WINDOW_TOKENS` (`grow`), from the passage its consecutive chunks make without the chunker's repeated
overlap (`passage`); tables and lists it reaches are kept whole where they fit (`blocks`). The neighbours
come in one filtered index call per query, and overlapping windows of one document become one hit (`widen`).
"""

from knowledge.windows.widen import neighbourhoods, reach, widen, windows

__all__ = ["neighbourhoods", "reach", "widen", "windows"]
