"""Channel names: a member is its own wire value, in Redis, in Rasa's metadata and in JSON."""

from __future__ import annotations

import json

import pytest

from contract.channels import Channel


def test_the_values_are_the_stored_wire_values() -> None:
    assert {channel.value for channel in Channel} == {"telegram", "sms"}
    assert Channel.TELEGRAM.value == "telegram"
    assert Channel.SMS.value == "sms"


@pytest.mark.parametrize("channel", list(Channel))
def test_a_channel_is_equal_to_and_prints_as_its_value(channel: Channel) -> None:
    assert channel == channel.value
    assert str(channel) == channel.value
    assert f"{channel}" == channel.value
    assert format(channel) == channel.value
    assert json.dumps({"channel": channel}) == json.dumps({"channel": channel.value})
    assert Channel(channel.value) is channel


@pytest.mark.parametrize("channel", list(Channel))
def test_parse_reads_a_stored_value_back(channel: Channel) -> None:
    assert Channel.parse(channel.value) is channel
    assert Channel.parse(channel) is channel


@pytest.mark.parametrize("value", [None, "", "SMS", "Telegram", "tg", "whatsapp", b"sms", 1])
def test_parse_answers_none_for_anything_else(value: object) -> None:
    assert Channel.parse(value) is None


def test_short_names_prefix_pseudonyms_and_never_collide() -> None:
    assert Channel.TELEGRAM.short == "tg"
    assert Channel.SMS.short == "sms"
    assert len({channel.short for channel in Channel}) == len(Channel)


def test_display_is_what_staff_read() -> None:
    assert Channel.TELEGRAM.display == "Telegram"
    assert Channel.SMS.display == "SMS"
    assert all(channel.display for channel in Channel)
