"""The Slack face of Lore (slack-bolt AsyncApp): built on knowledge/ only. Not built yet: see the issue
"Lore in Slack"."""
