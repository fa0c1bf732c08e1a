import pytest

from knowledge.access import AccessError, Principal, parse_access


def test_parse_access_normalises() -> None:
    assert parse_access(" Group:Finance ") == "group:finance"


def test_parse_access_rejects_unknown() -> None:
    with pytest.raises(AccessError):
        parse_access("everyone")


def test_principal_meets_acl() -> None:
    p = Principal.of(groups=["eng"])
    assert p.can_read(["group:eng"]) and not p.can_read(["group:finance"])
