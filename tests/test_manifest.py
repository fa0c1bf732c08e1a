"""The Slack app manifest (deploy/slack-manifest.yml), checked against what the bot's code really uses:
every event it listens to is subscribed, every Web API method it calls has its scope."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy" / "slack-manifest.yml"
BOT = ROOT / "bot"

BOT_EVENTS = {
    "app_mention",
    "message.im",
    "message.channels",
    "message.groups",
    "message.mpim",
    "assistant_thread_started",
    "assistant_thread_context_changed",
    "app_home_opened",
}
BOT_SCOPES = {
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "channels:read",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "mpim:history",
    "mpim:read",
    "chat:write",
    "commands",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "search:read.public",
    "search:read.private",
    "search:read.mpim",
    "search:read.im",
    "search:read.files",
}

# Web API method (slack_sdk's name) -> the scopes it needs where Lore uses it (in every kind of conversation
# Lore answers in). A method the bot calls that is not here fails `test_every_called_method_has_its_scope`.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "users_info": {"users:read", "users:read.email"},  # .email: the profile's email is the asker's identity
    "users_list": {"users:read", "users:read.email"},  # the people of a large private channel, at once
    "usergroups_list": {"usergroups:read"},
    "conversations_info": {"channels:read", "groups:read", "mpim:read"},
    "conversations_members": {"channels:read", "groups:read", "mpim:read"},
    "conversations_open": {"im:write"},
    "conversations_replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_startStream": {"chat:write"},
    "chat_appendStream": {"chat:write"},
    "chat_stopStream": {"chat:write"},
    "assistant_search_context": {  # LORE_SEARCH_SLACK: each channel and content type it asks for
        "search:read.public",
        "search:read.private",
        "search:read.mpim",
        "search:read.im",
        "search:read.files",
    },
    "views_publish": set(),  # no scope: the App Home tab must be enabled (features.app_home)
    "views_open": set(),  # modals need no scope (interactivity must be on)
    "views_update": set(),
}
PREFIX_SCOPES = {"assistant_threads_": {"assistant:write"}}

# Calls that bolt makes for Lore: the listener argument (or class) used in bot/app.py -> the method it calls.
BOLT_CALLS = {
    "say": ["chat_postMessage"],
    "set_suggested_prompts": ["assistant_threads_setSuggestedPrompts"],
    "set_title": ["assistant_threads_setTitle"],
    "set_status": ["assistant_threads_setStatus"],
    "AsyncAssistant": ["conversations_replies", "chat_update"],  # its default thread context store
}

# Event type -> the scope Slack requires to deliver it (None: no scope).
EVENT_SCOPES: dict[str, str | None] = {
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.mpim": "mpim:history",
    "assistant_thread_started": "assistant:write",
    "assistant_thread_context_changed": "assistant:write",
    "app_home_opened": None,
}
MESSAGE_EVENTS = {"message.im", "message.channels", "message.groups", "message.mpim"}
ASSISTANT_EVENTS = {"assistant_thread_started", "assistant_thread_context_changed", "message.im"}


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def bot_source() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(BOT.rglob("*.py")))


def app_source() -> str:
    return (BOT / "app.py").read_text(encoding="utf-8")


def events() -> set[str]:
    return set(manifest()["settings"]["event_subscriptions"]["bot_events"])


def scopes() -> set[str]:
    return set(manifest()["oauth_config"]["scopes"]["bot"])


def commands() -> dict[str, dict[str, Any]]:
    return {c["command"]: c for c in manifest()["features"]["slash_commands"]}


def scopes_of(method: str) -> set[str] | None:
    if method in METHOD_SCOPES:
        return METHOD_SCOPES[method]
    for prefix, needed in PREFIX_SCOPES.items():
        if method.startswith(prefix):
            return needed
    return None


def listened_events() -> set[str]:
    """Event types the bolt app in bot/app.py has listeners for, as manifest subscriptions."""
    source = app_source()
    wanted: set[str] = set()
    for event in re.findall(r"""@app\.event\(\s*["']([\w.]+)["']""", source):
        wanted |= MESSAGE_EVENTS if event == "message" else {event}
    if re.search(r"@app\.message\(", source):
        wanted |= MESSAGE_EVENTS
    if "AsyncAssistant(" in source:
        wanted |= ASSISTANT_EVENTS
    return wanted


def called_methods() -> set[str]:
    """Web API methods the bot calls: `client.<method>(` and `api_call("a.b")` in bot/*.py, and the calls
    bolt makes for the listener arguments bot/app.py uses."""
    source = bot_source()
    found = set(re.findall(r"\bclient\.([a-z]\w*)\s*[(,]", source))  # a call, or partial(client.x, …)
    found |= {name.replace(".", "_") for name in re.findall(r"""api_call\(\s*["']([\w.]+)["']""", source)}
    app = app_source()
    for name, methods in BOLT_CALLS.items():
        if re.search(rf"\b{name}\(", app):
            found |= set(methods)
    return found


def test_manifest_parses_as_a_v2_manifest() -> None:
    loaded = manifest()
    assert loaded["_metadata"] == {"major_version": 2, "minor_version": 1}
    assert loaded["display_information"]["name"] == "Lore"
    assert len(loaded["display_information"]["description"]) <= 140
    assert loaded["features"]["bot_user"]["display_name"] == "Lore"


def test_every_bot_event_is_subscribed() -> None:
    assert events() >= BOT_EVENTS, f"missing events: {sorted(BOT_EVENTS - events())}"


def test_every_scope_is_requested() -> None:
    assert scopes() >= BOT_SCOPES, f"missing scopes: {sorted(BOT_SCOPES - scopes())}"


def test_lore_command_is_declared() -> None:
    lore = commands()["/lore"]
    assert lore["description"] and lore["usage_hint"]
    assert lore["should_escape"] is False
    assert "commands" in scopes()


def test_socket_mode_and_interactivity_are_enabled() -> None:
    settings = manifest()["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_socket_mode_needs_no_request_url() -> None:
    settings = manifest()["settings"]
    assert "request_url" not in settings["event_subscriptions"]
    assert "request_url" not in settings["interactivity"]
    assert all("url" not in command for command in commands().values())


def test_assistant_view_has_suggested_prompts() -> None:
    view = manifest()["features"]["assistant_view"]
    assert view["assistant_description"].strip()
    prompts = view["suggested_prompts"]
    assert 1 <= len(prompts) <= 4
    assert all(p["title"].strip() and p["message"].strip() for p in prompts)


def test_suggested_prompts_match_the_bots_defaults() -> None:
    field = Settings.model_fields["suggested_prompts"]
    assert field.default_factory is not None
    defaults = field.default_factory()  # type: ignore[call-arg]
    prompts = [p["message"] for p in manifest()["features"]["assistant_view"]["suggested_prompts"]]
    assert prompts == defaults[:4]


def test_app_home_allows_dms() -> None:
    home = manifest()["features"]["app_home"]
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False


def test_every_event_the_app_listens_to_is_subscribed() -> None:
    wanted = listened_events()
    assert "app_mention" in wanted, "found no @app.event listeners in bot/app.py: has the scan gone stale?"
    missing = wanted - events()
    assert not missing, f"bot/app.py listens to {sorted(missing)}: subscribe them in {MANIFEST.name}"


def test_every_subscribed_event_has_its_scope() -> None:
    for event in events():
        assert event in EVENT_SCOPES, f"event {event!r}: add it with its scope to EVENT_SCOPES in this test"
        needed = EVENT_SCOPES[event]
        assert needed is None or needed in scopes(), f"event {event!r} needs the scope {needed!r}"


def test_every_command_the_app_handles_is_declared() -> None:
    handled = set(re.findall(r"""@app\.command\(\s*["'](/[\w-]+)["']""", app_source()))
    assert handled, "found no @app.command listeners in bot/app.py: has the scan gone stale?"
    assert handled <= set(commands()), f"declare {sorted(handled - set(commands()))} in {MANIFEST.name}"


def test_interactivity_is_on_when_the_app_has_actions() -> None:
    if re.search(r"@app\.(action|view|shortcut|options)\(", app_source()):
        assert manifest()["settings"]["interactivity"]["is_enabled"] is True


def test_every_called_method_has_its_scope() -> None:
    called = called_methods()
    assert {"users_info", "chat_postMessage"} <= called, "the scan of bot/*.py found too little: stale?"
    unknown = sorted(m for m in called if scopes_of(m) is None)
    assert not unknown, f"bot/ calls {unknown}: add them with their scopes to METHOD_SCOPES in this test"
    for method in sorted(called):
        missing = (scopes_of(method) or set()) - scopes()
        assert not missing, f"bot/ calls {method}, which needs {sorted(missing)}: add them to {MANIFEST.name}"


def test_the_manifest_holds_no_secrets() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    for pattern in (r"xox[abposre]-", r"xapp-", r"\b[0-9a-fA-F]{32}\b", r"\bsk-[\w-]{8,}"):
        assert not re.search(pattern, text), f"{MANIFEST.name} contains something like a secret ({pattern})"

    def keys(node: Any) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for value in node.values() for k in keys(value)}
        if isinstance(node, list):
            return {k for item in node for k in keys(item)}
        return set()

    secret_keys = {k for k in keys(manifest()) if "secret" in k or k in ("verification_token", "client_id")}
    assert not secret_keys, f"{MANIFEST.name} has secret fields: {sorted(secret_keys)}"
