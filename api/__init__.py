"""Lore's knowledge for programs and AI agents: the HTTP API (`lore api`) and the MCP server (`lore mcp`).

Like bot/, this face imports knowledge/ only.
"""
