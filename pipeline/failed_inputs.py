"""A build none of whose inputs could be read: nothing to publish, exit 1, the reasons.

One input that cannot be read (a ``gs://`` object answering 503 past ``--download_attempts``, a
404, a 403, an unreadable local file, a dangling symlink) is one dead letter, and the build goes
on (docs/inputs.md, "Sources that fail"). When that is every input, the run built nothing: it is
a failure (exit 1), not an empty dataset, so ``c4 build`` leaves DIR as it was (the commit is
aborted) and prints each input's reason on a line of its own, from the staged dead letters.
"""

from __future__ import annotations

import json
from typing import Any

from filters.wet import STAGE
from pipeline.io.storage import join_path, read_bytes
from pipeline.transforms.read import DOWNLOAD_STAGE, INPUT_FAILED_FILES
from pipeline.write import dead_letter_filename

# Where an input that could not be opened is dead-lettered: a remote one under ``download``,
# a local one under the reading stage (``unreadable: ...``).
_STAGES = (DOWNLOAD_STAGE, STAGE)


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
    return [f"{letter['source_file']}: {letter['reason']}" for letter in letters]
