"""User keys: generated, hashed, found by key; the `users:` section's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ccproxy_desktop.config.loader import ConfigInvalid, load_settings
from ccproxy_desktop.config.schema import CCProxySection, UserSpec
from ccproxy_desktop.testing.configs import write_fake_config
from ccproxy_desktop.users.keys import KEY_PREFIX, UserDirectory, hash_key, new_user_key


def test_new_keys_are_long_random_and_prefixed() -> None:
    keys = {new_user_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith(KEY_PREFIX) and len(k) == len(KEY_PREFIX) + 43 for k in keys)


def test_the_directory_finds_a_user_by_key_and_nobody_else() -> None:
    alice, bob = new_user_key(), new_user_key()
    directory = UserDirectory(
        {"alice": UserSpec(key_hash=hash_key(alice)), "bob": UserSpec(key_hash=hash_key(bob))}
    )
    assert directory.identify(alice) == "alice"
    assert directory.identify(bob) == "bob"
    assert directory.identify(alice + "x") is None
    assert directory.identify(hash_key(alice)) is None  # the stored hash is not a key
    assert directory.identify("") is None
    assert not UserDirectory({})


def test_the_hash_is_sha256_of_the_key() -> None:
    assert hash_key("abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ({"alice": {"key_hash": "abc"}}, "64 lowercase hex digits"),
        ({"alice": {"key_hash": "sha256:" + "A" * 64}}, "64 lowercase hex digits"),
        ({"alice": {}}, "Field required"),
        ({"al ice": {"key_hash": hash_key("k")}}, "user name 'al ice'"),
        ({"a": {"key_hash": hash_key("k")}, "b": {"key_hash": hash_key("k")}}, "same key_hash"),
        ({"a": {"key_hash": hash_key("k"), "requests_per_minute": 0}}, "greater than or equal to 1"),
        ({"a": {"key_hash": hash_key("k"), "daily_cost_limit_usd": 0}}, "greater than 0"),
        ({"a": {"key_hash": hash_key("k"), "token_limit": 5}}, "Extra inputs"),
    ],
)
def test_invalid_users_are_refused(users: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CCProxySection.model_validate({"users": users})


def test_a_bad_users_entry_names_file_line_and_key(tmp_path: Path) -> None:
    users = {"alice": {"key_hash": hash_key("k")}, "bob": {"key_hash": "sk-ccproxy-user-oops"}}
    paths = write_fake_config(tmp_path, "http://127.0.0.1:9", 4000, ccproxy={"users": users})
    with pytest.raises(ConfigInvalid) as invalid:
        load_settings(paths)
    (issue,) = invalid.value.issues
    text = str(issue)
    assert text.startswith(f"{paths.ccproxy_yaml}:")
    assert "users.bob.key_hash" in text and "never the key" in text
    line = paths.ccproxy_yaml.read_text().splitlines()[issue.line - 1]
    assert "key_hash: sk-ccproxy-user-oops" in line
