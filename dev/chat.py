"""``python -m dev.chat``: talk to the running stack as a phone would, without credentials.

It plays Telegram and Twilio against the gateway that ``make serve`` started
with local peers (no real tokens): a Telegram user's message goes in as a
real Update JSON with the webhook secret, an SMS as a form signed with
Twilio's algorithm. What comes back is shown exactly as the phone would show
it: Telegram messages with their buttons (type the number to press one), SMS
bodies with their billed segments and encoding, including answers that come
later through the REST API.

With the local stack, a hotline staff chat is configured too: ``:staff``
becomes a hotline worker in it, who sees the reports the relay delivers and
can press Claim / Resolve or type /open, /claim, /reply and /resolve.

    :sms / :telegram / :staff   switch role      (empty line: look for new messages)
    :quit                       leave
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode

import httpx
from dotenv import dotenv_values
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential
from twilio.request_validator import RequestValidator

from bot.texts import text
from contract.languages import LANGUAGES
from contract.segments import count

LOCAL_ENV = Path("var/local.env")
HOLDING = frozenset(text("holding", language) for language in LANGUAGES)
HELP = (
    "Type a message. :sms / :telegram / :staff switch role, a number presses a button, "
    "an empty line looks for new messages, :quit leaves."
)


def read_env(path: Path) -> Dict[str, str]:
    """The KEY=VALUE pairs of an env file (python-dotenv's reading: quotes, comments, export)."""
    return {key: value or "" for key, value in dotenv_values(path).items()}


class Phone:
    """One pretend user on both channels, talking to the gateway through the local peers."""

    def __init__(self, env: Dict[str, str], gateway: str, wait: float = 90.0) -> None:
        self.env = env
        self.gateway = gateway.rstrip("/")
        self.peers = env["TELEGRAM_API_URL"].rstrip("/")
        self.public = env["PUBLIC_URL"].rstrip("/")
        self.wait = wait
        self.chat_id = 700_000_000 + secrets.randbelow(100_000_000)
        self.number = "+92300" + "".join(str(secrets.randbelow(10)) for _ in range(7))
        self._update_ids = itertools.count(int(time.time() * 1000) % 2_000_000_000)
        self._buttons: List[Dict[str, Any]] = []
        self._staff_buttons: List[Dict[str, Any]] = []
        self._seen_telegram = 0
        self._seen_sms = 0
        self._seen_staff = 0
        self.staff_chat = int(env.get("HOTLINE_TELEGRAM_CHAT_ID") or 0)
        self.staff_id = int((env.get("HOTLINE_STAFF_TELEGRAM_IDS") or "0").split(",")[0])
        self.http = httpx.Client(timeout=60)

    def close(self) -> None:
        """Closes the HTTP connections."""
        self.http.close()

    # -- Telegram -------------------------------------------------------------

    def telegram(self, text: str, patience: Optional[float] = None) -> List[Dict[str, Any]]:
        """Sends a text (or presses button N) and returns the messages the bot sent.

        ``patience``: how long to wait for a first message (default: ``wait``).
        """
        self._post_update(
            text, self.chat_id, {"id": self.chat_id, "type": "private"}, self._buttons
        )
        messages = self._collect(self._telegram_sent, "_seen_telegram", patience=patience)
        self._buttons = _buttons_of(messages) or self._buttons
        return messages

    def inbox(self, patience: float = 10.0) -> List[Dict[str, Any]]:
        """Telegram messages that arrived without being asked for (a hotline worker's reply)."""
        messages = self._collect(self._telegram_sent, "_seen_telegram", patience=patience)
        self._buttons = _buttons_of(messages) or self._buttons
        return messages

    def sms_inbox(self, patience: float = 10.0) -> List[str]:
        """SMS that arrived by REST without being asked for."""
        return [m["body"] for m in self._collect(self._sms_sent, "_seen_sms", patience=patience)]

    def staff(self, text: str) -> List[Dict[str, Any]]:
        """As a hotline worker in the staff chat: what reached the chat or their private chat.

        An empty ``text`` only looks for new messages (reports arrive on their own).
        """
        if not self.staff_chat:
            raise RuntimeError("no staff chat configured (HOTLINE_TELEGRAM_CHAT_ID)")
        if text.strip():
            chat = {"id": self.staff_chat, "type": "supergroup", "title": "Hotline staff"}
            self._post_update(text, self.staff_id, chat, self._staff_buttons)
        messages = self._collect(self._staff_sent, "_seen_staff", patience=5)
        self._staff_buttons = _buttons_of(messages) or self._staff_buttons
        return messages

    def staff_until(self, needle: str, timeout: float = 60.0) -> str:
        """Everything the staff side has been sent (as text), once ``needle`` is among it."""
        seen = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen += "\n".join(m["text"] for m in self.staff(""))
            if needle in seen:
                return seen
        raise AssertionError(f"{needle!r} never reached the staff side")

    def _post_update(
        self, text: str, sender_id: int, chat: Dict[str, Any], buttons: List[Dict[str, Any]]
    ) -> None:
        update_id = next(self._update_ids)
        name = "You" if sender_id == self.chat_id else "Hotline worker"
        sender = {"id": sender_id, "is_bot": False, "first_name": name}
        if text.strip().isdigit() and buttons and 1 <= int(text) <= len(buttons):
            button = buttons[int(text) - 1]
            update: Dict[str, Any] = {
                "update_id": update_id,
                "callback_query": {
                    "id": str(update_id),
                    "chat_instance": "local",
                    "from": sender,
                    "message": {"message_id": 1, "date": int(time.time()), "chat": chat},
                    "data": button["callback_data"],
                },
            }
        else:
            update = {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": int(time.time()),
                    "chat": chat,
                    "from": sender,
                    "text": text,
                },
            }
        self._deliver_update(update)

    def _deliver_update(self, update: Dict[str, Any]) -> None:
        """Posts ``update`` as Telegram does: after an error answer or no answer at all, the
        same update is delivered again, later and later (Telegram keeps trying for a day;
        this, for ``wait`` seconds)."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.env["TELEGRAM_WEBHOOK_SECRET"]}
        for attempt in Retrying(
            retry=retry_if_exception(_telegram_retries),
            stop=stop_after_delay(self.wait),
            wait=wait_exponential(multiplier=0.5, max=8.0),
            reraise=True,
        ):
            with attempt:
                response = self.http.post(
                    f"{self.gateway}/telegram/webhook", json=update, headers=headers
                )
                response.raise_for_status()

    def _telegram_sent(self) -> List[Dict[str, Any]]:
        response = self.http.get(f"{self.peers}/_peer/telegram", params={"chat_id": self.chat_id})
        sent: List[Dict[str, Any]] = response.json()["sent"]
        return sent

    def _staff_sent(self) -> List[Dict[str, Any]]:
        sent: List[Dict[str, Any]] = []
        for chat in (self.staff_chat, self.staff_id):
            response = self.http.get(f"{self.peers}/_peer/telegram", params={"chat_id": chat})
            sent += response.json()["sent"]
        return sorted(sent, key=lambda message: int(message["message_id"]))

    # -- SMS ------------------------------------------------------------------

    def sms(self, text: str) -> List[str]:
        """Sends an SMS; returns the bodies that reach the phone (TwiML, then REST)."""
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.env["TWILIO_ACCOUNT_SID"],
            "From": self.number,
            "To": self.env["TWILIO_FROM_NUMBER"],
            "Body": text,
            "NumMedia": "0",
        }
        validator = RequestValidator(self.env["TWILIO_AUTH_TOKEN"])
        signature = validator.compute_signature(f"{self.public}/sms/twilio", params)
        response = self.http.post(
            f"{self.gateway}/sms/twilio",
            content=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response.raise_for_status()
        answer = ET.fromstring(response.text)  # noqa: S314 (TwiML from our own gateway)
        bodies = [m.text or "" for m in answer.findall("Message")]
        holding = any(body in HOLDING for body in bodies)
        if holding or not bodies:
            later = self._collect(self._sms_sent, "_seen_sms", patience=self.wait if holding else 2)
            bodies += [m["body"] for m in later]
        return bodies

    def _sms_sent(self) -> List[Dict[str, Any]]:
        response = self.http.get(f"{self.peers}/_peer/twilio", params={"to": self.number})
        sent: List[Dict[str, Any]] = response.json()["sent"]
        return sent

    # -- waiting --------------------------------------------------------------

    def _collect(
        self, fetch: Any, seen_attr: str, patience: Optional[float] = None, quiet: float = 0.8
    ) -> List[Dict[str, Any]]:
        """New messages: waits for the first (up to ``patience``), then until quiet."""
        deadline = time.monotonic() + (patience if patience is not None else self.wait)
        seen = getattr(self, seen_attr)
        last_change = time.monotonic()
        new: List[Dict[str, Any]] = []
        while time.monotonic() < deadline:
            sent = fetch()
            if len(sent) > seen + len(new):
                new = sent[seen:]
                last_change = time.monotonic()
            elif new and time.monotonic() - last_change >= quiet:
                break
            time.sleep(0.1)
        setattr(self, seen_attr, seen + len(new))
        return new


def _telegram_retries(error: BaseException) -> bool:
    """What Telegram delivers again: no answer, or a 5xx."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500
    return isinstance(error, httpx.TransportError)


def _buttons_of(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The buttons of the last message that has any."""
    buttons: List[Dict[str, Any]] = []
    for message in messages:
        keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        if keyboard:
            buttons = [button for row in keyboard for button in row]
    return buttons


def show_telegram(messages: List[Dict[str, Any]]) -> str:
    """Telegram messages as the app shows them, buttons numbered."""
    lines: List[str] = []
    number = 1
    for message in messages:
        lines.append("bot › " + message["text"].replace("\n", "\n      "))
        keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        for row in keyboard:
            for button in row:
                lines.append(f"      [{number}] {button['text']}")
                number += 1
    return "\n".join(lines) if lines else "(no reply)"


def show_sms(bodies: List[str]) -> str:
    """SMS bodies as the phone shows them, with what each costs."""
    lines: List[str] = []
    for body in bodies:
        counted = count(body)
        lines.append("sms › " + body.replace("\n", "\n      "))
        plural = "s" if counted.segments != 1 else ""
        lines.append(
            f"      ({counted.segments} segment{plural}, {counted.encoding}, "
            f"{len(body)} characters)"
        )
    return "\n".join(lines) if lines else "(no SMS sent back)"


def run(phone: Phone, channel: str, interactive: bool) -> int:
    """The read-send-show loop; returns an exit status."""
    if interactive:
        print(f"Chatting as a {channel} user. {HELP}")
    while (line := _read(channel, interactive)) is not None:
        said = line.rstrip("\n")
        if said in (":quit", ":q"):
            break
        if said in (":sms", ":telegram", ":staff"):
            if said == ":staff" and not phone.staff_chat:
                print("(no hotline staff chat is configured in this stack)")
                continue
            channel = said[1:]
            print(
                "(now a hotline worker in the staff chat)"
                if channel == "staff"
                else f"(now a {channel} user)"
            )
            if channel == "staff":
                print(show_telegram(phone.staff("")))
            continue
        if said == ":help":
            print(HELP)
            continue
        if not interactive:
            print(f"you ({channel}) › {said}")
        try:
            if not said.strip() and channel != "staff":  # only look for what arrived meanwhile
                print(
                    show_sms(phone.sms_inbox(2))
                    if channel == "sms"
                    else show_telegram(phone.inbox(2))
                )
            elif channel == "sms":
                print(show_sms(phone.sms(said)))
            elif channel == "staff":
                print(show_telegram(phone.staff(said)))
            else:
                print(show_telegram(phone.telegram(said)))
        except httpx.HTTPError as error:
            print(f"(the gateway did not answer: {error}; is `make serve` running?)")
            return 1
        sys.stdout.flush()
    return 0


def _read(channel: str, interactive: bool) -> Optional[str]:
    try:
        return input(f"you ({channel}) › ") if interactive else sys.stdin.readline() or None
    except EOFError:
        return None


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: ``python -m dev.chat [--channel sms|telegram]``."""
    parser = argparse.ArgumentParser(description="Talk to the running stack as a phone would.")
    parser.add_argument("--channel", choices=("telegram", "sms", "staff"), default="telegram")
    parser.add_argument("--gateway", default=None, help="gateway URL (default: from var/local.env)")
    parser.add_argument("--env", type=Path, default=LOCAL_ENV)
    args = parser.parse_args(argv)
    if not args.env.exists():
        print(
            "chat needs the stack that `make serve` starts with local peers (no real "
            f"Telegram/Twilio credentials); {args.env} is missing",
            file=sys.stderr,
        )
        return 2
    env = read_env(args.env)
    phone = Phone(env, args.gateway or env["GATEWAY_URL"])
    try:
        return run(phone, args.channel, interactive=sys.stdin.isatty())
    finally:
        phone.close()


if __name__ == "__main__":
    sys.exit(main())
