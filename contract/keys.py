"""Every Redis key Rahnuma writes, built in one place under ``REDIS_PREFIX``.

Nothing else in the project spells a key: a writer and a reader of the same
fact (the gateway and the outbox reading the opt-out set, the action server
and the relay sharing the report streams) get it from the same method, so
renaming a key can never leave one of them behind. The full key map, with
who writes each key, what it holds, whether it is sealed and how long it
lives, is in ``docs/architecture.md``; ``tests/contract/test_keys.py`` fails
when a key here is missing from it.

The strings are a stored format: changing one strands the data a running
deployment keeps under the old name.
"""

from __future__ import annotations


class Keys:
    """Key names under one prefix (``p`` below stands for ``REDIS_PREFIX``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- the gateway: taking messages in and answering them in order ----------

    def seen(self, channel: str, message_id: str) -> str:
        """``p:seen:<channel>:<id>``: this update_id / MessageSid was taken in."""
        return self._key("seen", channel, message_id)

    def inbox(self, pseudonym: str) -> str:
        """``p:inbox:<pseudonym>``: the user's messages waiting for an answer, sealed."""
        return self._key("inbox", pseudonym)

    @property
    def due(self) -> str:
        """``p:due``: users whose inbox must be looked at, by time."""
        return self._key("due")

    def rate(self, pseudonym: str, minute: int) -> str:
        """``p:rate:<pseudonym>:<minute>``: messages counted in one clock minute."""
        return self._key("rate", pseudonym, str(minute))

    def sms_budget(self, minute: int) -> str:
        """``p:sms:budget:<minute>``: SMS segments sent by REST in this clock minute."""
        return self._key("sms", "budget", str(minute))

    def lock(self, pseudonym: str) -> str:
        """``p:lock:<pseudonym>``: the process answering this user right now."""
        return self._key("lock", pseudonym)

    def retries(self, pseudonym: str) -> str:
        """``p:retries:<pseudonym>``: how often Rasa was unavailable for this inbox."""
        return self._key("retries", pseudonym)

    def held(self, channel: str, message_id: str) -> str:
        """``p:held:<channel>:<id>``: the holding message for this message went out."""
        return self._key("held", channel, message_id)

    def waiting(self, message_id: str) -> str:
        """``p:waiting:<id>``: an SMS webhook is waiting for this message's answer."""
        return self._key("waiting", message_id)

    def claim(self, message_id: str) -> str:
        """``p:claim:<id>``: who sends this answer: the webhook (TwiML) or the outbox."""
        return self._key("claim", message_id)

    def reply(self, message_id: str) -> str:
        """``p:reply:<id>``: the answer handed to the waiting SMS webhook."""
        return self._key("reply", message_id)

    def user(self, pseudonym: str) -> str:
        """``p:user:<pseudonym>``: language, SMS menu and pages still to send."""
        return self._key("user", pseudonym)

    def address(self, pseudonym: str) -> str:
        """``p:address:<pseudonym>``: the sealed chat id or phone number."""
        return self._key("address", pseudonym)

    @property
    def optout(self) -> str:
        """``p:optout``: pseudonyms of SMS users who sent STOP."""
        return self._key("optout")

    def callback(self, data: str) -> str:
        """``p:callback:<k:…>``: a button payload too long for Telegram's callback_data."""
        return self._key("callback", data)

    @property
    def outbox(self) -> str:
        """``p:outbox``: stream of replies waiting to be sent, sealed."""
        return self._key("outbox")

    @property
    def outbox_dead(self) -> str:
        """``p:outbox:dead``: replies given up on."""
        return self._key("outbox", "dead")

    # -- reports and the hotline -----------------------------------------------

    @property
    def reports(self) -> str:
        """``p:reports``: stream of new reports (reference only)."""
        return self._key("reports")

    @property
    def reports_urgent(self) -> str:
        """``p:reports:urgent``: stream of new urgent reports, read first."""
        return self._key("reports", "urgent")

    @property
    def reports_dead(self) -> str:
        """``p:reports:dead``: deliveries given up on, for an operator."""
        return self._key("reports", "dead")

    def case(self, reference: str) -> str:
        """``p:case:<reference>``: the case; description, location and note sealed."""
        return self._key("case", reference)

    @property
    def case_pattern(self) -> str:
        """What every case key matches (for SCAN)."""
        return self._key("case", "*")

    @property
    def cases_open(self) -> str:
        """``p:cases:open``: open and claimed cases by creation time."""
        return self._key("cases", "open")

    @property
    def cases_resolved(self) -> str:
        """``p:cases:resolved``: resolved cases by resolution time (for the purge)."""
        return self._key("cases", "resolved")

    def reporter(self, pseudonym: str) -> str:
        """``p:reporter:<pseudonym>``: the references a reporter submitted."""
        return self._key("reporter", pseudonym)

    def handoff(self, pseudonym: str) -> str:
        """``p:handoff:<pseudonym>``: the claimed case this reporter's messages go to."""
        return self._key("handoff", pseudonym)

    @property
    def handoff_waiting(self) -> str:
        """``p:handoff:waiting``: claimed cases whose reporter waits for an answer, by since."""
        return self._key("handoff", "waiting")

    @property
    def handoff_expiry(self) -> str:
        """``p:handoff:expiry``: claimed cases whose handoff ends, by when."""
        return self._key("handoff", "expiry")

    @property
    def audit(self) -> str:
        """``p:audit``: who claimed, replied to and resolved what, when; never content."""
        return self._key("audit")

    def staff_seen(self, channel: str, message_id: str) -> str:
        """``p:seen:staff:<channel>:<id>``: a staff update already acted on."""
        return self._key("seen", "staff", f"{channel}:{message_id}")

    @property
    def relay_retry(self) -> str:
        """``p:relay:retry``: report stream entries to retry, by time."""
        return self._key("relay", "retry")

    @property
    def relay_heartbeat(self) -> str:
        """``p:relay:heartbeat``: each relay's last round (consumer name -> unix time)."""
        return self._key("relay", "heartbeat")

    def relay_lock(self, reference: str) -> str:
        """``p:relay:lock:<reference>``: the relay delivering this report right now."""
        return self._key("relay", "lock", reference)
