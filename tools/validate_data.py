"""`rasa data validate`, failing on every warning except proven false positives.

Rasa warns that a response "is not used in any story or rule" when it is
used only by a form (``utter_ask_<slot>``), by Rasa itself (``utter_default``)
or by a custom action. Such a warning is accepted only after checking that the
response really is used that way; any other warning fails the check.

Usage: python -m tools.validate_data --data nlu/data --domain domain.yml --config config.yml
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import List, Set

# The config refers to the custom components as nlu.*: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

UNUSED = re.compile(r"The utterance '(?P<name>utter_\w+)' is not used in any story or rule\.")
USED_BY_RASA = {"utter_default"}  # action_default_fallback (core fallback)
# Rasa 3.6 raises this on loading any domain with slots, whatever they contain.
RASA_NOTICES = ("Slot auto-fill has been removed in 3.0",)


def responses_used_by_code(actions_dir: Path) -> Set[str]:
    """Response names that appear literally in the custom actions."""
    names: Set[str] = set()
    for path in actions_dir.glob("*.py"):
        names.update(re.findall(r"\"(utter_\w+)\"", path.read_text(encoding="utf-8")))
    return names


def main(argv: List[str]) -> int:
    """Runs the validation and returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="nlu/data")
    parser.add_argument("--domain", default="domain.yml")
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args(argv)

    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        args.config, args.domain, training_data_paths=[args.data]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        domain = importer.get_domain()
        validate_files(fail_on_warnings=False, max_history=None, importer=importer)
    form_asks = {
        f"utter_ask_{slot}" for form in domain.forms.values() for slot in form["required_slots"]
    }
    allowed = form_asks | USED_BY_RASA | responses_used_by_code(Path(args.actions))

    problems = []
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue
        text = str(warning.message)
        if text.startswith(RASA_NOTICES):
            continue
        unused = UNUSED.search(text)
        if unused and unused.group("name") in allowed:
            continue
        problems.append(text)
    for problem in problems:
        print(f"validation warning: {problem}", file=sys.stderr)
    if problems:
        print(f"FAILED: {len(problems)} validation warning(s)", file=sys.stderr)
        return 1
    print(
        f"Training data and domain valid ({len(allowed)} responses used by forms/actions checked)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
