"""Error messages that help: the closest valid names for a misspelt labware, pipette or
module, and this project's way of adding custom labware.

The robot's analysis says *that* a name is wrong; the scientist wants to know *what the
right name is*. :func:`improve` recognises the messages opentrons gives for an unknown
labware, pipette or module (robot software 4.7 and opentrons 8 word them alike, see below)
and adds "Did you mean ...?" with the closest valid names: the standard definitions
(:mod:`~ot2_notebook.magics.catalogue`) and the bundle's own custom labware.

opentrons tells authors of custom labware to add it "to your Custom Labware Definitions
Folder from the Opentrons App": that is how the App works, not how an HTTP upload works. The
definition travels with the protocol as a support file (``%%ot2_support my_labware.json``,
or ``--support PATH``); the advice is replaced with that.

Messages recognised (``NAME`` in quotes or not, as each robot writes it):

* labware: ``Unable to find a labware definition for "NAME", version 1, in the opentrons
  namespace...`` (4.7 and opentrons 8 below API 2.14); ``Labware "NAME" not found with
  version 1 in namespace "NS".`` (an explicit namespace; opentrons 8 from API 2.14);
* pipettes: ``NAME is not a valid pipette name`` (4.7); ``Cannot resolve NAME to pipette,
  must be given valid pipette name.`` (opentrons 8);
* modules: ``NAME is not a valid module load name.`` followed by the valid names (both).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ot2_notebook.magics import catalogue
from ot2_notebook.magics.bundle import BundledFile

__all__ = ["CUSTOM_LABWARE_ADVICE", "custom_labware_names", "improve", "suggestions"]

CUSTOM_LABWARE_ADVICE = (
    "For a custom labware, send its definition (the JSON file the Opentrons Labware Creator "
    "makes) with the protocol as a support file: a cell starting with %%ot2_support "
    "my_labware.json, or --support PATH/my_labware.json; then load it by its load name "
    '(and namespace="custom_beta" if it has that namespace).'
)

_APP_ADVICE = re.compile(
    r"\s*If you are referencing a custom labware in your protocol, you must add it to your "
    r"Custom Labware Definitions Folder from the Opentrons App before uploading your "
    r"protocol\.?",
    re.I,
)
_LABWARE = (
    re.compile(r'definition for "([^"]+)"'),
    re.compile(r'Labware "([^"]+)" not found with version'),
)
_PIPETTE = (
    re.compile(r"Cannot resolve (\S+) to pipette"),
    re.compile(r"(?:^|: )(\S+) is not a valid pipette name"),
)
_MODULE = re.compile(r"(?:^|: )(.+?) is not a valid module load name")
_QUOTED = re.compile(r'"([^"]+)"')


def suggestions(name: str, candidates: Iterable[str], *, ignore_case: bool = False) -> list[str]:
    """The valid names closest to ``name``, best first: the best one, and up to two more
    about as close (none if nothing is close, or if ``name`` is valid itself)."""
    pool = sorted(set(candidates))
    key = (lambda text: text.lower()) if ignore_case else (lambda text: text)
    wanted = key(name)
    if any(key(c) == wanted for c in pool):
        return []
    close = difflib.get_close_matches(wanted, [key(c) for c in pool], n=5, cutoff=0.6)
    by_key = {key(c): c for c in pool}
    scored = [
        (difflib.SequenceMatcher(None, wanted, found).ratio(), by_key[found])
        for found in close
        if found != wanted
    ]
    if not scored:
        return []
    best = scored[0][0]
    return [candidate for ratio, candidate in scored if ratio >= best - 0.02][:3]


def _did_you_mean(found: Sequence[str]) -> str:
    quoted = [f'"{f}"' for f in found]
    if len(quoted) == 1:
        return f"Did you mean {quoted[0]}?"
    return f"Did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"


def _labware_definition_name(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    parameters = data.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("loadName"), str):
        return str(parameters["loadName"])
    return None


def custom_labware_names(files: Iterable[BundledFile]) -> list[str]:
    """The load names of the labware definitions among ``files`` (JSON support files)."""
    names = []
    for bundled in files:
        if bundled.role != "support" or not bundled.name.lower().endswith(".json"):
            continue
        try:
            name = _labware_definition_name(json.loads(bundled.content))
        except ValueError:
            continue
        if name:
            names.append(name)
    return names


def _first(patterns: Sequence[re.Pattern[str]], message: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(message)
        if match:
            return match.group(1)
    return None


def _with_suggestion(message: str, found: Sequence[str]) -> str:
    if not found:
        return message
    head, newline, rest = message.partition("\n")
    head = head.rstrip()
    if not head.endswith((".", "!", "?")):
        head += "."
    return f"{head} {_did_you_mean(found)}{newline}{rest}"


def improve(message: str, custom_labware: Sequence[str] = ()) -> str:
    """``message`` with the closest valid names added and the App advice replaced."""
    labware = _first(_LABWARE, message)
    if labware is not None:
        text = _APP_ADVICE.sub("", message).rstrip()
        found = suggestions(labware, [*custom_labware, *catalogue.labware_load_names()])
        text = _with_suggestion(text, found)
        return f"{text}\n{CUSTOM_LABWARE_ADVICE}"
    pipette = _first(_PIPETTE, message)
    if pipette is not None:
        return _with_suggestion(message, suggestions(pipette, catalogue.pipette_names()))
    match = _MODULE.search(message)
    if match:
        listed = _QUOTED.findall(message[match.end() :])
        candidates = listed or catalogue.module_models()
        found = suggestions(match.group(1), candidates, ignore_case=True)
        return _with_suggestion(message, found)
    if _APP_ADVICE.search(message):
        return f"{_APP_ADVICE.sub('', message).rstrip()}\n{CUSTOM_LABWARE_ADVICE}"
    return message
