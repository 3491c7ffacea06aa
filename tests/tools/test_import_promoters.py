"""Importing a promoter list: messy input, skipped rows, atomic replacement."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.import_promoters import main

OFFICIAL_LIKE = """\ufeffLicense No,OEP Name,City,Licence Status,Valid Upto
 9101 / lhr ,Fictional Alpha Overseas,Lahore,Active,31/12/2027
9102-RWP,Fictional Beta Manpower,Rawalpindi,EXPIRED,2025-01-31
9103/KHI,Fictional Gamma Recruiting,Karachi,Surrendered,2024-06-30
9101/LHR,Fictional Alpha Overseas Pvt Ltd,Lahore,Active,31/12/2028
"""


@pytest.fixture()
def official(tmp_path: Path) -> Path:
    path = tmp_path / "official.csv"
    path.write_text(OFFICIAL_LIKE, encoding="utf-8")
    return path


def _args(official: Path, out: Path, *extra: str) -> list[str]:
    return [
        str(official),
        "--source",
        "https://example.invalid/list",
        "--verified",
        "2026-11-22",
        "--out",
        str(out),
        "--licence",
        "License No",
        "--name",
        "OEP Name",
        "--city",
        "City",
        "--status",
        "Licence Status",
        "--expiry",
        "Valid Upto",
        *extra,
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_unknown_status_stops_the_import_and_keeps_the_old_list(
    official: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "promoters.csv"
    out.write_text("old list\n", encoding="utf-8")
    assert main(_args(official, out)) == 1
    assert out.read_text(encoding="utf-8") == "old list\n"
    assert "line 4: unknown status 'surrendered'" in capsys.readouterr().err


def test_mapped_statuses_dates_and_duplicates(official: Path, tmp_path: Path) -> None:
    out = tmp_path / "promoters.csv"
    assert main(_args(official, out, "--status-map", "surrendered=cancelled")) == 0
    assert _rows(out) == [
        {
            "licence_number": "9101/LHR",
            "name": "Fictional Alpha Overseas Pvt Ltd",
            "city": "Lahore",
            "status": "valid",
            "expiry": "2028-12-31",
            "source": "https://example.invalid/list",
            "verified": "2026-11-22",
        },
        {
            "licence_number": "9102/RWP",
            "name": "Fictional Beta Manpower",
            "city": "Rawalpindi",
            "status": "expired",
            "expiry": "2025-01-31",
            "source": "https://example.invalid/list",
            "verified": "2026-11-22",
        },
        {
            "licence_number": "9103/KHI",
            "name": "Fictional Gamma Recruiting",
            "city": "Karachi",
            "status": "cancelled",
            "expiry": "2024-06-30",
            "source": "https://example.invalid/list",
            "verified": "2026-11-22",
        },
    ]


def test_missing_column_is_a_clear_error(official: Path, tmp_path: Path, capsys) -> None:
    args = _args(official, tmp_path / "out.csv")
    args[args.index("Valid Upto")] = "Expiry"
    assert main(args) == 2
    assert "missing column(s) ['Expiry']" in capsys.readouterr().err


def test_shipped_list_is_in_the_import_format() -> None:
    # Whatever list the deployer loaded (the shipped one is a fictional sample), its columns
    # are the ones the import writes; its rows are checked in tests/test_content.py.
    with (ROOT / "content/promoters.csv").open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "licence_number",
        "name",
        "city",
        "status",
        "expiry",
        "source",
        "verified",
    ]
