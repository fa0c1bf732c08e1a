from pathlib import Path

import pytest

from knowledge.settings import Settings, env_name, load_settings, unknown_names


def test_every_field_is_described() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LORE_TOP_K=9\nSLACK_BOT_TOKEN=xoxb-from-dotenv-123\nOTHER_TOOL=1\n")
    monkeypatch.setenv("LORE_ADMINS", "U1, U2")
    settings = load_settings()
    assert settings.top_k == 9 and settings.admins == ["U1", "U2"]
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-dotenv-123"


def test_described_masks_secrets() -> None:
    settings = Settings(llm_api_key="sk-very-secret-key", _env_file=None)  # type: ignore[call-arg]
    shown = dict((name, value) for name, value, _ in settings.described())
    assert shown["LORE_LLM_API_KEY"].startswith("sk-v") and "secret" not in shown["LORE_LLM_API_KEY"]
    assert shown["SLACK_BOT_TOKEN"] == "(unset)"


def test_typos_are_named_with_their_likely_meaning(tmp_path: Path) -> None:
    found = unknown_names({"LORE_TOPK": "3", "LORE_TOP_K": "3", "PATH": "/bin"}, dotenv=None)
    assert found == [("LORE_TOPK", "LORE_TOP_K")]


def test_env_names() -> None:
    assert env_name("slack_bot_token") == "SLACK_BOT_TOKEN"
    assert env_name("slack_api_url") == "LORE_SLACK_API_URL"
    assert env_name("data_dir") == "LORE_DATA_DIR"


def test_invalid_value_is_refused() -> None:
    with pytest.raises(ValueError, match="top_k"):
        Settings(top_k=0, _env_file=None)  # type: ignore[call-arg]
