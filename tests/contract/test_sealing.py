"""Encryption at rest: what is sealed opens only with our keys, and keys can be rotated."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from contract.sealing import InvalidToken, Sealer

OLD, NEW, FOREIGN = (Fernet.generate_key().decode() for _ in range(3))
TEXT = "ایجنٹ نے میرا پاسپورٹ رکھ لیا، +923001234567"


def test_a_sealed_value_opens_to_itself_and_shows_nothing_of_it() -> None:
    sealer = Sealer(NEW)
    token = sealer.seal(TEXT)
    assert isinstance(token, bytes)
    assert TEXT.encode() not in token
    assert b"923001234567" not in token
    assert sealer.open(token) == TEXT
    assert sealer.open(sealer.seal("")) == ""


def test_sealing_the_same_value_twice_gives_different_tokens() -> None:
    sealer = Sealer(NEW)
    assert sealer.seal(TEXT) != sealer.seal(TEXT)


def test_a_token_sealed_with_another_key_does_not_open() -> None:
    with pytest.raises(InvalidToken):
        Sealer(NEW).open(Sealer(FOREIGN).seal(TEXT))


def test_a_tampered_token_does_not_open() -> None:
    sealer = Sealer(NEW)
    token = bytearray(sealer.seal(TEXT))
    token[-5] = ord("A") if token[-5] != ord("A") else ord("B")
    with pytest.raises(InvalidToken):
        sealer.open(bytes(token))


def test_the_first_key_seals_and_every_key_opens() -> None:
    both = Sealer(f"{NEW},{OLD}")
    assert both.open(Sealer(OLD).seal(TEXT)) == TEXT
    assert Sealer(NEW).open(both.seal(TEXT)) == TEXT
    with pytest.raises(InvalidToken):
        Sealer(OLD).open(both.seal(TEXT))


def test_rotate_reseals_an_old_token_with_the_first_key() -> None:
    old_token = Sealer(OLD).seal(TEXT)
    rotated = Sealer(f"{NEW},{OLD}").rotate(old_token)
    assert Sealer(NEW).open(rotated) == TEXT
    with pytest.raises(InvalidToken):
        Sealer(OLD).open(rotated)


def test_rotate_refuses_a_token_of_no_configured_key() -> None:
    with pytest.raises(InvalidToken):
        Sealer(f"{NEW},{OLD}").rotate(Sealer(FOREIGN).seal(TEXT))


def test_spaces_around_the_keys_of_the_setting_are_ignored() -> None:
    sealer = Sealer(f" {NEW} ,\n{OLD} ")
    assert Sealer(NEW).open(sealer.seal(TEXT)) == TEXT
    assert sealer.open(Sealer(OLD).seal(TEXT)) == TEXT


@pytest.mark.parametrize("keys", ["", "not-a-fernet-key", f"{NEW},", NEW[:-4]])
def test_a_malformed_key_setting_fails_at_construction(keys: str) -> None:
    with pytest.raises(ValueError):
        Sealer(keys)
