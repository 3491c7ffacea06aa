"""The report store against the real Redis: what the action server writes and staff act on.

Every test has a key prefix of its own (``prefix`` in tests/conftest.py) and
reads Redis directly where a promise is about what is stored: sealed
content, the stream a report is queued on, an audit trail without content.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

import contract.reports
from contract.channels import Channel
from contract.keys import Keys
from contract.languages import ENGLISH, URDU
from contract.reports import (
    CLAIMED,
    OPEN,
    RESOLVED,
    RETENTION_DAYS,
    Case,
    ReportStore,
    ReportStoreError,
    Submission,
    new_reference,
)
from contract.sealing import Sealer

KEY, OLD_KEY, FOREIGN_KEY = (Fernet.generate_key().decode() for _ in range(3))
REPORTER, OTHER_REPORTER = "tg-reporter0001", "sms-reporter0002"
STAFF, COLLEAGUE = "tg:777001", "tg:777002"
DESCRIPTION = "Agent Qadeer in Rawalpindi kept my passport and wants 300000 rupees"
URDU_DESCRIPTION = "ایجنٹ قدیر نے میرا پاسپورٹ رکھ لیا اور تین لاکھ مانگ رہا ہے"
LOCATION = "Saddar Bazaar, Rawalpindi"
NOTE = "Called back; referred to the Protectorate office in Lahore"
REFERENCE = re.compile(r"R-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{6}")
DAY = 86400


def submission(
    reporter: str = REPORTER,
    *,
    urgent: bool = False,
    may_contact: bool = True,
    channel: Optional[Channel] = Channel.TELEGRAM,
    description: str = DESCRIPTION,
    location: Optional[str] = LOCATION,
    language: str = ENGLISH,
) -> Submission:
    return Submission(
        reporter=reporter,
        language=language,
        channel=channel,
        description=description,
        location=location,
        urgent=urgent,
        may_contact=may_contact,
    )


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def store(redis: Redis, keys: Keys) -> ReportStore:
    return ReportStore(redis, keys, Sealer(KEY))


async def stored(redis: Redis, prefix: str) -> Dict[str, bytes]:
    """Every key under ``prefix`` with all it holds, whatever its type, as one blob."""
    found: Dict[str, bytes] = {}
    async for raw in redis.scan_iter(match=f"{prefix}:*"):
        key = raw.decode()
        kind: Any = await redis.type(key)
        kind = kind.decode()
        parts: List[bytes] = []
        if kind == "string":
            value: Any = await redis.get(key)
            parts.append(value)
        elif kind == "hash":
            mapping: Any = await redis.hgetall(key)
            for field, value in mapping.items():
                parts += [field, value]
        elif kind == "set":
            members: Any = await redis.smembers(key)
            parts += list(members)
        elif kind == "zset":
            scored: Any = await redis.zrange(key, 0, -1)
            parts += list(scored)
        elif kind == "list":
            items: Any = await redis.lrange(key, 0, -1)
            parts += list(items)
        elif kind == "stream":
            entries: Any = await redis.xrange(key)
            for _id, fields in entries:
                for field, value in fields.items():
                    parts += [field, value]
        else:  # pragma: no cover - a type this project never writes
            pytest.fail(f"{key} is a {kind}")
        found[key] = b"\x00".join(parts)
    return found


def words(*texts: str) -> Iterator[bytes]:
    """The texts whole, and each longer word of them, as stored bytes.

    Words without a letter (``300000``) are left out: a timestamp may hold them.
    """
    for text in texts:
        yield text.encode()
        for word in text.split():
            if len(word) > 4 and any(c.isalpha() for c in word):
                yield word.encode()


# -- submitting -------------------------------------------------------------------------


async def test_submit_stores_the_case_whole(store: ReportStore) -> None:
    before = time.time()
    reference = await store.submit(
        submission(description=URDU_DESCRIPTION, language=URDU, channel=Channel.SMS)
    )
    case = await store.case(reference)
    assert case is not None
    assert before <= case.created <= time.time()
    assert case == Case(
        reference=reference,
        status=OPEN,
        urgent=False,
        language=URDU,
        channel=Channel.SMS,
        reporter=REPORTER,
        may_contact=True,
        description=URDU_DESCRIPTION,
        location=LOCATION,
        created=case.created,
    )
    assert await store.references_of(REPORTER) == [reference]
    assert [case.reference for case in await store.open_cases()] == [reference]


async def test_a_report_without_location_or_contact_keeps_them_absent(store: ReportStore) -> None:
    reference = await store.submit(submission(location=None, may_contact=False, urgent=True))
    case = await store.case(reference)
    assert case is not None
    assert case.location is None
    assert case.may_contact is False
    assert case.urgent is True


async def test_no_description_location_or_note_is_stored_in_plain_text(
    store: ReportStore, redis: Redis, prefix: str
) -> None:
    reference = await store.submit(submission())
    await store.submit(submission(description=URDU_DESCRIPTION, urgent=True))
    assert await store.claim(reference, STAFF, "telegram") == "claimed"
    assert await store.record_reply(reference, STAFF)
    assert await store.resolve(reference, STAFF, note=NOTE) == "done"
    everything = await stored(redis, prefix)
    # two cases, the reporter's index, open and resolved, both streams, the audit trail
    assert len(everything) >= 8
    for key, blob in everything.items():
        for word in words(DESCRIPTION, URDU_DESCRIPTION, LOCATION, NOTE):
            assert word not in key.encode(), key
            assert word not in blob, f"{word!r} in plain text under {key}"
    note: Any = await redis.hget(store.keys.case(reference), "note")
    assert Sealer(KEY).open(note) == NOTE


@pytest.mark.parametrize("urgent", [True, False])
async def test_a_report_is_queued_on_its_stream_by_reference_only(
    store: ReportStore, redis: Redis, keys: Keys, urgent: bool
) -> None:
    reference = await store.submit(submission(urgent=urgent))
    queued, other = (
        (keys.reports_urgent, keys.reports) if urgent else (keys.reports, keys.reports_urgent)
    )
    entries: Any = await redis.xrange(queued)
    assert [fields for _id, fields in entries] == [{b"reference": reference.encode()}]
    assert await redis.xlen(other) == 0


async def test_references_are_well_formed_and_unique(store: ReportStore) -> None:
    references = [await store.submit(submission()) for _ in range(40)]
    assert all(REFERENCE.fullmatch(reference) for reference in references), references
    assert len(set(references)) == len(references)
    assert await store.references_of(REPORTER) == sorted(references)
    made = {new_reference() for _ in range(2000)}
    assert all(REFERENCE.fullmatch(reference) for reference in made)
    assert len(made) > 1990  # 32**6 possibilities: a handful of repeats at most


async def test_a_taken_reference_is_never_overwritten(
    store: ReportStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = iter(["R-AAAAAA", "R-AAAAAA", "R-AAAAAA", "R-BBBBBB"])
    monkeypatch.setattr(contract.reports, "new_reference", lambda: next(offered))
    first = await store.submit(submission(description="first"))
    second = await store.submit(submission(OTHER_REPORTER, description="second"))
    assert (first, second) == ("R-AAAAAA", "R-BBBBBB")
    case = await store.case(first)
    assert case is not None
    assert (case.description, case.reporter) == ("first", REPORTER)


async def test_submit_gives_up_when_no_reference_is_free(
    store: ReportStore, redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.submit(submission())
    (taken,) = await store.references_of(REPORTER)
    monkeypatch.setattr(contract.reports, "new_reference", lambda: taken)
    with pytest.raises(ReportStoreError):
        await store.submit(submission(OTHER_REPORTER))
    assert await store.references_of(OTHER_REPORTER) == []
    assert await redis.xlen(keys.reports) == 1


@pytest.mark.parametrize("channel", [*Channel, None])
async def test_the_case_channel_is_a_channel_or_none(
    store: ReportStore, redis: Redis, channel: Optional[Channel]
) -> None:
    reference = await store.submit(submission(channel=channel))
    case = await store.case(reference)
    assert case is not None
    assert case.channel is channel
    wire: Any = await redis.hget(store.keys.case(reference), "channel")
    assert wire == (channel.value.encode() if channel else b"")


# -- reading ----------------------------------------------------------------------------


async def test_an_unknown_reference_has_no_case(store: ReportStore) -> None:
    assert await store.case("R-000000") is None


async def test_case_of_never_returns_someone_elses_case(store: ReportStore) -> None:
    mine = await store.submit(submission(REPORTER))
    theirs = await store.submit(submission(OTHER_REPORTER))
    case = await store.case_of(REPORTER, mine)
    assert case is not None and case.reference == mine
    assert await store.case_of(REPORTER, theirs) is None
    assert await store.case_of(OTHER_REPORTER, mine) is None
    assert await store.case_of(REPORTER, "R-000000") is None


async def test_open_cases_lists_urgent_first_then_oldest(store: ReportStore) -> None:
    old = await store.submit(submission())
    urgent = await store.submit(submission(urgent=True))
    new = await store.submit(submission())
    done = await store.submit(submission(urgent=True))
    assert await store.resolve(done, STAFF) == "done"
    assert [case.reference for case in await store.open_cases()] == [urgent, old, new]
    assert [case.reference for case in await store.open_cases(limit=2)] == [urgent, old]


async def test_delivered_destinations_are_remembered(store: ReportStore) -> None:
    reference = await store.submit(submission())
    await store.mark_delivered(reference, "telegram:staff")
    await store.mark_delivered(reference, "sms:+923001110001")
    case = await store.case(reference)
    assert case is not None
    assert case.delivered == {"telegram:staff", "sms:+923001110001"}
    assert [await store.count_attempt(reference) for _ in range(3)] == [1, 2, 3]


async def test_a_case_sealed_with_an_unknown_key_is_a_store_error(
    store: ReportStore, redis: Redis, keys: Keys
) -> None:
    reference = await store.submit(submission())
    stranger = ReportStore(redis, keys, Sealer(FOREIGN_KEY))
    with pytest.raises(ReportStoreError, match=reference):
        await stranger.case(reference)
    with pytest.raises(ReportStoreError):
        await stranger.claim(reference, STAFF, "telegram")
    with pytest.raises(ReportStoreError):
        await stranger.resolve(reference, STAFF)
    case = await store.case(reference)
    assert case is not None and case.status == OPEN  # nothing was changed


# -- staff actions ----------------------------------------------------------------------


async def test_claim_outcomes(store: ReportStore) -> None:
    reference = await store.submit(submission())
    assert await store.claim("R-000000", STAFF, "telegram") == "unknown"
    assert await store.claim(reference, STAFF, "sms") == "claimed"
    case = await store.case(reference)
    assert case is not None
    assert (case.status, case.claimed_by, case.claimed_via) == (CLAIMED, STAFF, "sms")
    assert await store.claim(reference, STAFF, "telegram") == "yours"
    assert await store.claim(reference, COLLEAGUE, "telegram") == "taken"
    case = await store.case(reference)
    assert case is not None and (case.claimed_by, case.claimed_via) == (STAFF, "sms")
    assert await store.resolve(reference, STAFF) == "done"
    assert await store.claim(reference, COLLEAGUE, "telegram") == "resolved"
    assert await store.claim(reference, STAFF, "telegram") == "resolved"


async def test_resolve_outcomes(store: ReportStore) -> None:
    claimed = await store.submit(submission())
    unclaimed = await store.submit(submission())
    assert await store.resolve("R-000000", STAFF) == "unknown"
    assert await store.claim(claimed, STAFF, "telegram") == "claimed"
    assert await store.resolve(claimed, COLLEAGUE) == "taken"
    case = await store.case(claimed)
    assert case is not None and case.status == CLAIMED
    before = time.time()
    assert await store.resolve(claimed, STAFF) == "done"
    assert await store.resolve(claimed, STAFF) == "resolved"
    assert await store.resolve(unclaimed, COLLEAGUE) == "done"  # an open case: anyone
    case = await store.case(claimed)
    assert case is not None and case.status == RESOLVED
    assert case.resolved_at is not None and before <= case.resolved_at <= time.time()
    assert await store.open_cases() == []
    assert await store.references_of(REPORTER) == sorted([claimed, unclaimed])


async def test_the_audit_trail_names_who_did_what_and_never_content(store: ReportStore) -> None:
    reference = await store.submit(submission())
    other = await store.submit(submission(OTHER_REPORTER))
    assert await store.claim(reference, STAFF, "telegram") == "claimed"
    assert await store.claim(reference, COLLEAGUE, "telegram") == "taken"  # refused: no entry
    assert await store.record_reply(reference, STAFF)
    assert not await store.record_reply(reference, COLLEAGUE)
    assert await store.resolve(reference, COLLEAGUE) == "taken"
    assert await store.resolve(reference, STAFF, note=NOTE) == "done"
    assert await store.resolve(other, COLLEAGUE) == "done"
    trail = await store.audit(reference)
    assert [(entry["action"], entry["staff"]) for entry in trail] == [
        ("claimed", STAFF),
        ("replied", STAFF),
        ("resolved", STAFF),
    ]
    for entry in trail:
        assert set(entry) == {"reference", "action", "staff", "at"}
        assert entry["reference"] == reference
        float(entry["at"])
    assert [entry["reference"] for entry in await store.audit()] == [reference] * 3 + [other]
    for entry in await store.audit():
        for word in words(DESCRIPTION, LOCATION, NOTE):
            assert all(word not in value.encode() for value in entry.values())


async def test_record_reply_only_for_the_staff_member_holding_the_claim(
    store: ReportStore,
) -> None:
    reference = await store.submit(submission())
    assert not await store.record_reply("R-000000", STAFF)
    assert not await store.record_reply(reference, STAFF)  # open: nobody holds it
    assert await store.claim(reference, STAFF, "telegram") == "claimed"
    assert not await store.record_reply(reference, COLLEAGUE)
    assert await store.record_reply(reference, STAFF)
    assert await store.resolve(reference, STAFF) == "done"
    assert not await store.record_reply(reference, STAFF)
    assert [entry["action"] for entry in await store.audit(reference)] == [
        "claimed",
        "replied",
        "resolved",
    ]


# -- the reporter's side ------------------------------------------------------------------


async def test_a_claim_hands_the_reporter_over_to_staff_until_they_leave(
    store: ReportStore,
) -> None:
    reference = await store.submit(submission())
    assert await store.handoff_of(REPORTER) is None
    assert await store.claim(reference, STAFF, "telegram") == "claimed"
    case = await store.handoff_of(REPORTER)
    assert case is not None and (case.reference, case.claimed_by) == (reference, STAFF)
    assert await store.handoff_of(OTHER_REPORTER) is None
    await store.end_handoff(REPORTER)
    assert await store.handoff_of(REPORTER) is None
    assert await store.record_reply(reference, STAFF)  # staff write again: routed back
    case = await store.handoff_of(REPORTER)
    assert case is not None and case.reference == reference
    assert await store.resolve(reference, STAFF) == "done"
    assert await store.handoff_of(REPORTER) is None


async def test_a_reporter_who_may_not_be_contacted_is_not_handed_over(
    store: ReportStore,
) -> None:
    reference = await store.submit(submission(may_contact=False))
    assert await store.claim(reference, STAFF, "telegram") == "claimed"
    assert await store.handoff_of(REPORTER) is None


async def test_resolving_one_case_keeps_the_handoff_to_another(store: ReportStore) -> None:
    first = await store.submit(submission())
    second = await store.submit(submission())
    assert await store.claim(first, STAFF, "telegram") == "claimed"
    assert await store.claim(second, COLLEAGUE, "telegram") == "claimed"
    assert await store.resolve(first, STAFF) == "done"
    case = await store.handoff_of(REPORTER)
    assert case is not None and (case.reference, case.claimed_by) == (second, COLLEAGUE)


async def test_a_handoff_to_a_case_no_longer_claimed_is_dropped(
    store: ReportStore, redis: Redis, keys: Keys
) -> None:
    reference = await store.submit(submission())
    assert await store.resolve(reference, STAFF) == "done"
    await redis.set(keys.handoff(REPORTER), reference)  # left behind by an older gateway
    assert await store.handoff_of(REPORTER) is None
    assert await redis.exists(keys.handoff(REPORTER)) == 0


# -- housekeeping -------------------------------------------------------------------------


async def test_purge_removes_resolved_cases_after_the_retention_and_never_open_ones(
    store: ReportStore, redis: Redis, keys: Keys
) -> None:
    resolved = await store.submit(submission())
    claimed = await store.submit(submission())
    untouched = await store.submit(submission(urgent=True))
    other = await store.submit(submission(OTHER_REPORTER))
    assert await store.claim(claimed, STAFF, "telegram") == "claimed"
    assert await store.resolve(resolved, STAFF, note=NOTE) == "done"
    now = time.time()
    assert await store.purge(now=now) == 0
    assert await store.purge(now=now + (RETENTION_DAYS - 1) * DAY) == 0
    assert await store.case(resolved) is not None
    assert await store.purge(now=now + (RETENTION_DAYS + 1) * DAY) == 1
    assert await store.case(resolved) is None
    assert await store.case_of(REPORTER, resolved) is None
    assert await redis.exists(keys.case(resolved)) == 0
    assert await store.references_of(REPORTER) == sorted([claimed, untouched])
    assert await store.purge(now=now + 10 * RETENTION_DAYS * DAY) == 0
    for reference in (claimed, untouched, other):
        assert await store.case(reference) is not None
    assert [case.reference for case in await store.open_cases()] == [untouched, claimed, other]


async def test_purge_keeps_a_case_resolved_within_the_retention(store: ReportStore) -> None:
    earlier = await store.submit(submission())
    later = await store.submit(submission())
    assert await store.resolve(earlier, STAFF) == "done"
    between = time.time()
    assert await store.resolve(later, STAFF) == "done"
    assert await store.purge(retention_days=1, now=between + DAY) == 1
    assert await store.case(earlier) is None
    assert await store.case(later) is not None


async def test_purge_trims_the_audit_trail_after_its_own_retention(
    store: ReportStore, redis: Redis, keys: Keys
) -> None:
    reference = await store.submit(submission())
    assert await store.claim(reference, STAFF, "telegram") == "claimed"
    now = time.time()
    await store.purge(now=now)
    assert len(await store.audit(reference)) == 1
    await store.purge(audit_days=30, now=now + 31 * DAY)
    assert await store.audit(reference) == []
    assert await redis.exists(keys.case(reference)) == 1  # a claimed case stays


# An approximate trim ("MINID ~") removes whole stream nodes only: an old entry sharing a node
# with a newer one would survive its retention.
async def test_purge_trims_an_old_audit_entry_next_to_a_recent_one(store: ReportStore) -> None:
    old = await store.submit(submission())
    recent = await store.submit(submission())
    assert await store.claim(old, STAFF, "telegram") == "claimed"
    await asyncio.sleep(0.005)  # stream ids are milliseconds: the two entries must not share one
    between = time.time()
    await asyncio.sleep(0.005)
    assert await store.claim(recent, STAFF, "telegram") == "claimed"
    await store.purge(audit_days=30, now=between + 30 * DAY)
    assert [entry["reference"] for entry in await store.audit()] == [recent]


async def test_rotate_reseals_every_case_with_the_first_key(redis: Redis, keys: Keys) -> None:
    before = ReportStore(redis, keys, Sealer(OLD_KEY))
    resolved = await before.submit(submission())
    waiting = await before.submit(submission(OTHER_REPORTER, description=URDU_DESCRIPTION))
    assert await before.resolve(resolved, STAFF, note=NOTE) == "done"
    during = ReportStore(redis, keys, Sealer(f"{KEY},{OLD_KEY}"))
    assert await during.rotate() == 2
    after = ReportStore(redis, keys, Sealer(KEY))
    case = await after.case(waiting)
    assert case is not None and case.description == URDU_DESCRIPTION
    case = await after.case(resolved)
    assert case is not None and (case.description, case.location) == (DESCRIPTION, LOCATION)
    note: Any = await redis.hget(keys.case(resolved), "note")
    assert Sealer(KEY).open(note) == NOTE
    with pytest.raises(ReportStoreError):
        await before.case(waiting)
