"""Load a list of licensed promoters (OEPs) into content/promoters.csv.

    python -m tools.import_promoters official.csv --source URL --verified 2026-11-22

The input is any CSV with a header row; name its columns with ``--licence``,
``--name``, ``--city``, ``--status`` and ``--expiry`` when they differ from
the defaults. Status words are mapped to ``valid`` / ``expired`` /
``cancelled`` (``--status-map surrendered=cancelled`` adds a mapping). Rows
that cannot be read are reported and skipped, never guessed; the output is
replaced only when the whole import succeeded, so the assistant never sees a
half-written list.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from actions.agents import STATUSES, normalize_licence
from actions.content import content_dir

FIELDS = ("licence_number", "name", "city", "status", "expiry", "source", "verified")
DEFAULT_STATUS_MAP = {
    "valid": "valid",
    "active": "valid",
    "licensed": "valid",
    "expired": "expired",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "revoked": "cancelled",
}


class ImportFailedError(Exception):
    """The input cannot be imported at all (missing file or columns)."""


@dataclass
class ImportResult:
    """What an import read, kept and skipped (with reasons)."""

    rows: List[Dict[str, str]] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def _date(text: str) -> Optional[str]:
    text = text.strip()
    for parse in (dt.date.fromisoformat, lambda t: dt.datetime.strptime(t, "%d/%m/%Y").date()):
        try:
            return parse(text).isoformat()
        except ValueError:
            continue
    return None


def read_promoters(
    path: Path,
    *,
    source: str,
    verified: str,
    columns: Dict[str, str],
    status_map: Dict[str, str],
) -> ImportResult:
    """Reads and checks every row; duplicates keep the last row for a licence."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ImportFailedError(f"cannot open {path}: {error}") from error
    result = ImportResult()
    by_licence: Dict[str, Dict[str, str]] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        absent = [column for column in columns.values() if column not in header]
        if absent:
            raise ImportFailedError(f"{path}: missing column(s) {absent}; header is {header}")
        for line, row in enumerate(reader, start=2):
            licence = normalize_licence(row.get(columns["licence"]) or "")
            name = (row.get(columns["name"]) or "").strip()
            status_word = (row.get(columns["status"]) or "").strip().lower()
            status = status_map.get(status_word)
            expiry = _date(row.get(columns["expiry"]) or "")
            problem = (
                "no licence number"
                if not licence
                else "no name"
                if not name
                else f"unknown status {status_word!r} (use --status-map)"
                if status is None
                else "unreadable expiry date"
                if expiry is None
                else None
            )
            if problem:
                result.skipped.append(f"line {line}: {problem}")
                continue
            by_licence[licence] = {
                "licence_number": licence,
                "name": name,
                "city": (row.get(columns["city"]) or "").strip(),
                "status": str(status),
                "expiry": str(expiry),
                "source": source,
                "verified": verified,
            }
    result.rows = sorted(by_licence.values(), key=lambda r: r["licence_number"])
    return result


def write_promoters(rows: Sequence[Dict[str, str]], target: Path) -> None:
    """Replaces ``target`` atomically (write a temporary file, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".csv.tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("csv", type=Path, help="the list to import")
    parser.add_argument("--source", required=True, help="where the list comes from (URL)")
    parser.add_argument(
        "--verified", default=dt.date.today().isoformat(), help="date checked (YYYY-MM-DD)"
    )
    parser.add_argument("--out", type=Path, default=content_dir() / "promoters.csv")
    parser.add_argument("--licence", default="licence_number")
    parser.add_argument("--name", default="name")
    parser.add_argument("--city", default="city")
    parser.add_argument("--status", default="status")
    parser.add_argument("--expiry", default="expiry")
    parser.add_argument("--status-map", action="append", default=[], metavar="WORD=STATUS")
    parser.add_argument(
        "--allow-skips", action="store_true", help="write even if some rows were skipped"
    )
    args = parser.parse_args(argv)

    status_map = dict(DEFAULT_STATUS_MAP)
    for pair in args.status_map:
        word, _, status = pair.partition("=")
        if status not in STATUSES:
            parser.error(f"--status-map {pair}: status must be one of {', '.join(STATUSES)}")
        status_map[word.strip().lower()] = status
    if _date(args.verified) is None:
        parser.error("--verified must be a date (YYYY-MM-DD)")
    columns = {
        "licence": args.licence,
        "name": args.name,
        "city": args.city,
        "status": args.status,
        "expiry": args.expiry,
    }
    print(f"==> Reading {args.csv}")
    try:
        result = read_promoters(
            args.csv,
            source=args.source,
            verified=args.verified,
            columns=columns,
            status_map=status_map,
        )
    except ImportFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for reason in result.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    if result.skipped and not args.allow_skips:
        print(
            f"error: {len(result.skipped)} row(s) could not be read; nothing written "
            "(fix them or pass --allow-skips)",
            file=sys.stderr,
        )
        return 1
    if not result.rows:
        print("error: no usable rows; nothing written", file=sys.stderr)
        return 1
    write_promoters(result.rows, args.out)
    counts = ", ".join(
        f"{sum(1 for r in result.rows if r['status'] == status)} {status}" for status in STATUSES
    )
    print(f"==> Wrote {len(result.rows)} promoters to {args.out} ({counts})")
    print("    Restart the action server to use the new list.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
