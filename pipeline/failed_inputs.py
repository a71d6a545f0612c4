"""A build none of whose inputs could be read: nothing to publish, a failed run, the reasons.

One input that cannot be read (a ``gs://`` object answering 503 past ``--download_attempts``, a
404, a 403, an unreadable local file, a dangling symlink, a file of WARC or WAT records with no
WET page, ``not_wet``) is one dead letter, and the build goes
on (docs/inputs.md, "Sources that fail"). When that is every input, the run built nothing: it is
a failure, not an empty dataset. ``c4 build`` aborts its commit (DIR stays as it was), prints
each input's reason on a line of its own and exits 1; a ``c4 submit`` job's last step raises
``EveryInputFailed`` instead of publishing, so the job fails with the reasons.
"""

from __future__ import annotations

import json
from typing import Any

from filters.wet import REASON_NOT_WET, STAGE
from pipeline.io.storage import join_path, read_bytes
from pipeline.transforms.read import DOWNLOAD_STAGE, INPUT_FAILED_FILES
from pipeline.write import dead_letter_filename

# Where an input that could not be opened is dead-lettered: a remote one under ``download``,
# a local one under the reading stage (``unreadable: ...``).
_STAGES = (DOWNLOAD_STAGE, STAGE)
# Reasons a job's error message carries at most (Dataflow shows the message whole).
MESSAGE_REASONS = 20


class EveryInputFailed(RuntimeError):
    """No input of the job could be read; the message names each reason (the first ones)."""


def every_input_failed(write_dir: str, inputs: int) -> list[str] | None:
    """``source_file: reason`` per input when none of the ``inputs`` files could be read, from
    the build staged in ``write_dir``; None when at least one was.
    """
    data = read_bytes(join_path(write_dir, "stats.json"))
    if data is None or inputs < 1:
        return None
    counters = json.loads(data).get("counters", {})
    if int(counters.get(INPUT_FAILED_FILES, 0)) < inputs:
        return None
    letters: list[dict[str, Any]] = []
    for stage in _STAGES:
        text = read_bytes(join_path(write_dir, "dead_letter", dead_letter_filename(stage)))
        letters += [json.loads(line) for line in (text or b"").decode("utf-8").splitlines()]
    return [f"{letter['source_file']}: {_reason(letter)}" for letter in letters]


def _reason(letter: dict[str, Any]) -> str:
    """A dead letter's reason, with the detail that says what to do for a file that is not WET
    (``not_wet: WARC request records — use a WET file``)."""
    if letter["reason"] == REASON_NOT_WET and letter.get("detail"):
        return f"{REASON_NOT_WET}: {letter['detail'].split(';')[0]}"
    return str(letter["reason"])


def headline(inputs: int, output_dir: str) -> str:
    """The first line of the failure: what failed, and that DIR was not touched."""
    return f"none of the {inputs} input file(s) could be read; {output_dir} is left as it was"


def check_published(write_dir: str, inputs: int, output_dir: str) -> None:
    """Before a job publishes its staged build.

    Raises:
        EveryInputFailed: none of its inputs could be read (the job fails, nothing published).
    """
    reasons = every_input_failed(write_dir, inputs)
    if reasons is None:
        return
    shown = reasons[:MESSAGE_REASONS]
    more = len(reasons) - len(shown)
    lines = [headline(inputs, output_dir) + ":", *shown] + (
        [f"... and {more} more"] if more else []
    )
    raise EveryInputFailed("\n".join(lines))
