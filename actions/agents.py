"""Checking an Overseas Employment Promoter (OEP) against the licence list.

The list is content/promoters.csv (licence number, name, city, status,
expiry, source, verified). The shipped file is a small fictional sample; a
deployer loads the official BE&OE list into it. Whatever the result, the
answer always says how to check officially.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from typing import List, Optional

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.content import ContentError, content_dir

RESPONSES = {
    "valid": "utter_agent_valid",
    "expired": "utter_agent_expired",
    "cancelled": "utter_agent_cancelled",
}
STATUSES = tuple(RESPONSES)
NAME_MATCH_THRESHOLD = 0.82

# Words that say nothing about which agency it is.
_NOISE_WORDS = frozenset(
    "overseas employment promoter promoters oep agency agencies services service "
    "manpower recruiting recruitment recruiters company co pvt private ltd limited "
    "the and & of international intl fictional".split()
)


@dataclass(frozen=True)
class Promoter:
    """One licence as listed."""

    licence_number: str
    name: str
    city: str
    status: str
    expiry: str
    source: str
    verified: str


def normalize_licence(text: str) -> str:
    """'OEP licence no. 9001 / lhr' -> '9001/LHR'."""
    text = unicodedata.normalize("NFKC", text).upper()
    match = re.search(r"(\d{1,6})\s*[/\\-]?\s*([A-Z]{2,4})?\b", text)
    if not match:
        return ""
    number, office = match.groups()
    return f"{number}/{office}" if office else number


def _name_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\(.*?\)", " ", text)
    words = [w for w in re.findall(r"[a-z0-9\u0600-\u06ff]+", text) if w not in _NOISE_WORDS]
    return " ".join(words)


@lru_cache(maxsize=1)
def promoters() -> List[Promoter]:
    """Every listed licence."""
    path = content_dir() / "promoters.csv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ContentError(f"cannot read {path}: {error}") from error
    result = []
    for row in rows:
        status = (row.get("status") or "").strip().lower()
        if status not in STATUSES:
            raise ContentError(f"{path}: unknown status {status!r}")
        result.append(
            Promoter(
                licence_number=normalize_licence(row["licence_number"]),
                name=row["name"].strip(),
                city=row["city"].strip(),
                status=status,
                expiry=row["expiry"].strip(),
                source=row["source"].strip(),
                verified=row["verified"].strip(),
            )
        )
    return result


def find_promoter(query: str) -> Optional[Promoter]:
    """The listed promoter a licence number or (misspelt) name refers to."""
    licence = normalize_licence(query)
    if licence:
        for promoter in promoters():
            if promoter.licence_number == licence:
                return promoter
        number = licence.split("/")[0]
        if "/" not in licence:
            same_number = [p for p in promoters() if p.licence_number.split("/")[0] == number]
            if len(same_number) == 1:
                return same_number[0]
    key = _name_key(query)
    if not key:
        return None
    best, best_score = None, 0.0
    for promoter in promoters():
        score = SequenceMatcher(None, key, _name_key(promoter.name)).ratio()
        if score > best_score:
            best, best_score = promoter, score
    return best if best_score >= NAME_MATCH_THRESHOLD else None


class ActionVerifyAgent(Action):
    """Looks up the licence number or agency name the user gave."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_verify_agent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Answers valid / expired / cancelled / not found, or asks what to check."""
        entities = {
            e.get("entity"): e.get("value")
            for e in (tracker.latest_message or {}).get("entities") or []
        }
        query = entities.get("licence_number") or entities.get("agent_name")
        if not query:
            dispatcher.utter_message(response="utter_ask_agent")
            return []
        promoter = find_promoter(str(query))
        reset = [SlotSet("licence_number", None), SlotSet("agent_name", None)]
        if promoter is None:
            dispatcher.utter_message(response="utter_agent_not_found", query=str(query)[:80])
            return reset
        dispatcher.utter_message(
            response=RESPONSES[promoter.status],
            name=promoter.name,
            licence=promoter.licence_number,
            city=promoter.city,
            expiry=promoter.expiry,
            verified=promoter.verified,
        )
        return reset
