"""Lore's admin side in Slack: who administers it and what admins do with `/lore` and the App Home.

- `admins.py`: who is an admin (LORE_ADMINS: Slack user ids and user groups).
- `slash.py`: the `/lore` command, the add-source modal, removal's confirmation and the App Home actions.
- `views.py`: what those show (pure functions to mrkdwn and Block Kit).
- `api_keys.py`: `/lore apikey create|list|revoke`.
- `source_fields.py`: the fields each kind of source asks for, declared once.
- `source_input.py`: what an admin typed (modal or one-line form) turned into a `Source`.
"""
