"""Needs an SDK that is not installed: importing it fails, as a half-installed plug-in does."""

import lore_broken_sdk_not_installed  # noqa: F401
