"""The records that flow between stages: a parsed page, a drop decision and a dead letter.

They are ``typing.NamedTuple`` so Beam can give them a deterministic coder and so they pickle
cheaply across a shuffle.
"""

from __future__ import annotations

from typing import NamedTuple


class Page(NamedTuple):
    """One WET conversion record as TFDS's ``split_wet_file`` builds it, plus its provenance.

    ``url``, ``text``, ``timestamp``, ``content_type`` and ``content_length`` are exactly TFDS's
    values (see C4_SPEC §1.2). The rest say where the record came from (INTERFACE.md "Identifiers").
    """

    url: str
    normalized_url: str
    text: str
    timestamp: str
    content_type: str
    content_length: str
    doc_id: str
    source_file: str
    record_offset: int
    record_id: str = ""
    block_digest: str = ""
    # Position of the source file in the input list: with record_offset, the input order that
    # 2.2.0/1.0.0's URL dedup ("last value wins") is made deterministic with.
    file_index: int = 0
    language: str = ""


class Dropped(NamedTuple):
    """A page a C4 rule removed: counted, never silent.

    ``stage`` is the TFDS counter namespace (``clean-page``) and ``reason`` the counter name
    (``filtered:too_few_sentences``), so ``f"{stage}/{reason}"`` is the TFDS counter.
    ``source_file``, ``record_offset`` and ``record_id`` say where the record is (``c4 build
    --record_drops`` writes them; ``record_offset`` -1 where not known).
    """

    stage: str
    reason: str
    doc_id: str
    url: str = ""
    source_file: str = ""
    record_offset: int = -1
    record_id: str = ""


class DeadLetter(NamedTuple):
    """Input that could not be read as a page (broken gzip, bad UTF-8, malformed record).

    One dead letter stands for one input record. Where the loss is not a whole record, or not
    only one (a damaged stretch of a file, a download that broke off), ``lost_bytes`` says how
    many bytes of the input, as stored, were not read, and ``detail`` says which and why (byte
    ranges, the ``WARC-Record-ID`` found in them, an expected size). ``detail`` holds no text of
    the document (``c4 forget`` redacts ``excerpt`` only).
    """

    stage: str
    source_file: str
    record_offset: int
    reason: str
    excerpt: str = ""
    detail: str = ""
    lost_bytes: int = 0
