"""TFDS's on-disk layout for C4: metadata JSON, shard names, example order and sharding.

Everything here reproduces what tensorflow-datasets 4.9.10 writes for ``c4/<config>/<version>``
so that ``tfds.builder_from_directory`` (and, for en 3.1.0, ``tfds.load``) reads our output
as if TFDS had built it:

- ``features.json``: TFDS's ``FeatureConnector.save_config`` (``MessageToDict`` of the
  FeaturesDict proto, ``json.dumps(indent=4, sort_keys=True)``).
- ``dataset_info.json``: ``MessageToJson(DatasetInfo, sort_keys=True)``; TFDS parses it back
  strictly (unknown fields are errors), so only DatasetInfo proto fields appear, int64s as
  strings, as protobuf's JSON mapping writes them.
- Example order: TFDS's ``core/hashing.py`` (md5 of split name + key) and shard assignment of
  ``core/writer.py``'s ``BeamWriter``; shard counts from ``core/utils/shard_utils.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from filters.language import MC4_LANGUAGES, UNKNOWN_LANGUAGE

DATASET_NAME = "c4"
FILE_FORMAT = "tfrecord"
MODULE_NAME = "tensorflow_datasets.text.c4"
HOMEPAGE = "https://github.com/google-research/text-to-text-transfer-transformer#datasets"
# ShardedFileTemplate's default template, as TFDS records it in every split since 4.x.
FILEPATH_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
TEXT_FEATURE_CLASS = "tensorflow_datasets.core.features.text_feature.Text"
FEATURES_DICT_CLASS = "tensorflow_datasets.core.features.features_dict.FeaturesDict"

# C4_SPEC §1.9: the five Text features since 2.2.0; 1.0.0 had only text and url.
C4_FEATURES: tuple[str, ...] = ("content-length", "content-type", "text", "timestamp", "url")
C4_FEATURES_V1: tuple[str, ...] = ("text", "url")

# Metadata strings of TFDS's C4 builder (text/c4.py), so dataset_info.json reads the same.
C4_DESCRIPTION = """\
A colossal, cleaned version of Common Crawl's web crawl corpus.

Based on Common Crawl dataset: https://commoncrawl.org

To generate this dataset, please follow
[the instructions from t5](https://github.com/google-research/text-to-text-transfer-transformer#c4).

Due to the overhead of cleaning the dataset, it is recommend you prepare it with
a distributed service like Cloud Dataflow. More info at
https://www.tensorflow.org/datasets/beam_datasets."""
C4_CITATION = """@article{2019t5,
  author = {Colin Raffel and Noam Shazeer and Adam Roberts and Katherine Lee and Sharan Narang and Michael Matena and Yanqi Zhou and Wei Li and Peter J. Liu},
  title = {Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer},
  journal = {arXiv e-prints},
  year = {2019},
  archivePrefix = {arXiv},
  eprint = {1910.10683},
}"""  # noqa: E501
CONFIG_DESCRIPTIONS: dict[str, str] = {
    "en": "English C4 dataset.",
    "en.noclean": "Disables all cleaning (deduplication, removal based on bad words, etc.)",
    "realnewslike": (
        "Filters from the default config to only include content from the domains used in"
        " the 'RealNews' dataset (Zellers et al., 2019)."
    ),
    "multilingual": (
        "Multilingual C4 (mC4) has 101 languages and is generated from 86 Common Crawl dumps."
    ),
}
# The versions this project builds, with what each changed (TFDS RELEASE_NOTES, abridged for
# 2.2.0 and 1.0.0, which predate release notes).
RELEASE_NOTES: dict[str, str] = {
    "3.1.0": (
        "All: Select newest timestamp when deduping by URL (vs random); escape badword"
        " regexes. Multilingual: Expand complete list of CC dumps (as of Aug 17, 2022); use"
        " soft badword filtering (99.9%); do not require spaces for Japanese when matching"
        " bad words (similar to Thai and Chinese); up minimum language detection threshold to"
        " 0.95 (from 0.7); allow badwords that filter >10% of documents for a given"
        " non-spaced language due to being common subwords."
    ),
    "2.2.0": "Line-level deduplication; the C4 that T5 >= 0.3.0 trains on.",
    "1.0.0": "The T5 paper's C4: deduplication of three-sentence spans; text and url only.",
}
LICENSE = (
    "ODC-BY 1.0 (Open Data Commons Attribution License,"
    " https://opendatacommons.org/licenses/by/1-0/). Use of the underlying Common Crawl"
    " data is also subject to the Common Crawl Terms of Use"
    " (https://commoncrawl.org/terms-of-use)."
)

# shard_utils.ShardConfig defaults: 64 MiB <= shard <= 1 GiB, 16 bytes of TFRecord framing.
MIN_SHARD_BYTES = 64 << 20
MAX_SHARD_BYTES = 1024 << 20
RECORD_OVERHEAD = 16


class SplitInfo(NamedTuple):
    """One split as dataset_info.json records it.

    ``num_bytes`` is TFDS's ``total_size``: the sum of the serialized examples' lengths,
    without the 16 bytes of TFRecord framing per record.
    """

    name: str
    shard_lengths: list[int]
    num_bytes: int


def split_names(config: str, has_validation: bool = True) -> tuple[str, ...]:
    """Every split TFDS's C4 builder declares for a config, in its order (``_split_generators``).

    ``train`` and ``validation`` (``train`` only without validation, as in 1.0.0); for
    ``multilingual``, ``<lang>`` and ``<lang>-validation`` for each mC4 language, then ``und``.
    A build declares them all in ``dataset_info.json``, with 0 examples where it has none.
    """
    if config == "multilingual":
        return tuple(
            name
            for lang in (*MC4_LANGUAGES, UNKNOWN_LANGUAGE)
            for name in (lang, f"{lang}-validation")
        )
    return ("train", "validation") if has_validation else ("train",)


def declared_splits(
    config: str, has_validation: bool, written: Sequence[SplitInfo]
) -> list[SplitInfo]:
    """The splits ``dataset_info.json`` lists: every split of ``split_names``, in its order, with
    what was written or 0 examples, then any other written split by name.

    TFDS's own writer never records an empty split, but a split the config defines must be
    there for ``builder.info.splits[name].num_examples`` to answer 0 (tfds and seqio refuse
    to *read* it: "Instruction [] corresponds to no data!").
    """
    by_name = {split.name: split for split in written}
    names = split_names(config, has_validation)
    out = [by_name.get(name) or SplitInfo(name, [], 0) for name in names]
    out += [by_name[name] for name in sorted(set(by_name) - set(names))]
    return out


def features_for_version(version: str) -> tuple[str, ...]:
    """Returns the C4 feature names of a dataset version (1.0.0 has only text and url)."""
    return C4_FEATURES_V1 if version.startswith("1.") else C4_FEATURES


def c4_features_json(features: tuple[str, ...]) -> dict[str, Any]:
    """Returns features.json's content: a FeaturesDict of scalar ``tfds.features.Text``.

    Args:
        features: the feature names (order does not matter; TFDS sorts them).

    Returns:
        The dict TFDS 4.9.10 writes to ``features.json`` for C4.
    """
    text = {"pythonClassName": TEXT_FEATURE_CLASS, "text": {}}
    return {
        "featuresDict": {"features": {name: dict(text) for name in sorted(features)}},
        "pythonClassName": FEATURES_DICT_CLASS,
    }


def dataset_info_json(
    config: str,
    version: str,
    split_infos: Sequence[SplitInfo],
    description: str = C4_DESCRIPTION,
    *,
    config_description: str | None = None,
    citation: str = C4_CITATION,
    release_notes: Mapping[str, str] | None = None,
    license_text: str = LICENSE,
    download_size: int = 0,
) -> dict[str, Any]:
    """Returns dataset_info.json's content, as TFDS 4.9.10 writes it for a built C4.

    Args:
        config: the TFDS config name (``en``, ``en.noclean``, ``realnewslike``,
            ``multilingual``).
        version: the dataset version (``3.1.0``, ``2.2.0``, ``1.0.0``).
        split_infos: every split declared, in the order to list them (0 examples allowed).
        description: the dataset description.
        config_description: defaults to TFDS's description of ``config``.
        citation: the BibTeX citation.
        release_notes: version -> note; defaults to the notes of ``version`` and earlier ones.
        license_text: ``redistributionInfo.license``.
        download_size: bytes of input downloaded, if known (omitted when 0, as protobuf does).

    Returns:
        A JSON-ready dict with protobuf JSON field names; write it with ``write_json_like_tfds``.
    """
    if release_notes is None:
        ordered = sorted(RELEASE_NOTES, key=_version_tuple)
        release_notes = {
            v: RELEASE_NOTES[v] for v in ordered if _version_tuple(v) <= _version_tuple(version)
        }
    info: dict[str, Any] = {
        "citation": citation,
        "configDescription": config_description or CONFIG_DESCRIPTIONS.get(config, ""),
        "configName": config,
        "description": description,
        "fileFormat": FILE_FORMAT,
        "location": {"urls": [HOMEPAGE]},
        "moduleName": MODULE_NAME,
        "name": DATASET_NAME,
        "splits": [_split_json(split) for split in split_infos],
        "version": version,
    }
    if release_notes:
        info["releaseNotes"] = dict(release_notes)
    if license_text:
        info["redistributionInfo"] = {"license": license_text}
    if download_size:
        info["downloadSize"] = str(download_size)
    return info


def _split_json(split: SplitInfo) -> dict[str, Any]:
    """One ``SplitInfo`` as protobuf's JSON mapping writes it: int64 as strings, and a split with
    no example (0 bytes, no shard) as its name and template only, as defaults are omitted."""
    entry: dict[str, Any] = {"filepathTemplate": FILEPATH_TEMPLATE, "name": split.name}
    if split.num_bytes:
        entry["numBytes"] = str(split.num_bytes)
    if split.shard_lengths:
        entry["shardLengths"] = [str(n) for n in split.shard_lengths]
    return entry


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def dataset_info_text(info: Mapping[str, Any]) -> str:
    """Returns dataset_info.json's bytes as text: ``MessageToJson(sort_keys=True)``'s format."""
    return json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False)


def features_text(features: Mapping[str, Any]) -> str:
    """Returns features.json's text: ``json.dumps(indent=4, sort_keys=True)``, as TFDS does."""
    return json.dumps(features, indent=4, sort_keys=True)


def write_metadata(
    builder_dir: str | os.PathLike[str],
    config: str,
    version: str,
    split_infos: Sequence[SplitInfo],
    **info_kwargs: Any,
) -> None:
    """Writes dataset_info.json, features.json and LICENSE into ``builder_dir``.

    Call it last, once every shard is in place: TFDS treats a directory with a
    dataset_info.json as a finished dataset.

    Args:
        builder_dir: ``DIR/c4/<config>/<version>``; created if missing.
        config: the TFDS config name.
        version: the dataset version.
        split_infos: every split declared.
        **info_kwargs: passed on to ``dataset_info_json``.
    """
    os.makedirs(builder_dir, exist_ok=True)
    info = dataset_info_json(config, version, split_infos, **info_kwargs)
    files = {"features.json": features_text(c4_features_json(features_for_version(version)))}
    if "redistributionInfo" in info:  # TFDS writes the license beside the metadata too
        files["LICENSE"] = info["redistributionInfo"]["license"]
    files["dataset_info.json"] = dataset_info_text(info)
    # dataset_info.json goes last (dict order) so its presence means the rest is there.
    for name, text in files.items():
        path = os.path.join(builder_dir, name)
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(path + ".tmp", path)


def shard_filename(split: str, index: int, num_shards: int) -> str:
    """Returns a shard's file name, e.g. ``c4-train.tfrecord-00000-of-01024``."""
    return f"{DATASET_NAME}-{split}.{FILE_FORMAT}-{index:05d}-of-{num_shards:05d}"


def _hash_bytes(value: str) -> bytes:
    # hashing._to_bytes: string keys have backslashes turned into slashes before hashing
    # (a Windows-path convenience that applies to URLs too).
    return value.replace("\\", "/").encode("utf-8")


def example_sort_key(split: str, key: str) -> int:
    """Returns TFDS's hashed key of an example: the order examples are written in.

    TFDS sorts the examples of a split by ``md5(split_name + key)`` read as a 128-bit
    big-endian integer; C4's key is the raw url. Two examples with the same hashed key make
    TFDS fail (``DuplicatedKeysError``).

    Args:
        split: the split name, which salts the hash (``train``, ``validation``, ``en``...).
        key: the example key (the page's raw url).

    Returns:
        The 128-bit integer to sort by, ascending.
    """
    digest = hashlib.md5(_hash_bytes(split))
    digest.update(_hash_bytes(key))
    return int.from_bytes(digest.digest(), "big")


def num_shards_for(total_bytes: int, num_examples: int, *, precise: bool = False) -> int:
    """Returns how many shards TFDS's writer makes for a split (``shard_utils``).

    Shards should hold 64 MiB to 1 GiB (0.9 GiB for the Beam writer, which cannot control
    shard sizes exactly), counting 16 bytes of framing per record: 1024 shards when that
    fits, else the smallest multiple of 1024 above the minimum, else the largest of
    512 ... 2 that fits, else 1; never more shards than examples.

    Args:
        total_bytes: the sum of the serialized examples' lengths (``SplitInfo.num_bytes``).
        num_examples: the number of examples in the split.
        precise: the rule of TFDS's non-Beam writer; C4 is built by the Beam writer.

    Returns:
        The number of shards (1024 and 8 for C4 en's train and validation).

    Raises:
        ValueError: over 1 TiB in fewer examples than shards needed, where TFDS never returns.
    """
    total = total_bytes + num_examples * RECORD_OVERHEAD
    max_shards = total // MIN_SHARD_BYTES
    # The Beam writer allows 0.9 GiB; floor division by that float gives a float: int() it.
    min_shards = int(total // (MAX_SHARD_BYTES if precise else 0.9 * MAX_SHARD_BYTES))
    if min_shards <= 1024 <= max_shards and num_examples >= 1024:
        return 1024
    if min_shards > 1024:
        # The smallest multiple of 1024 (from 2048) that reaches min_shards; TFDS searches
        # upwards for one that also has enough examples and never returns if none has.
        shards = 1024 * max(2, -(-min_shards // 1024))
        if num_examples < shards:
            raise ValueError(
                f"{num_examples} examples of {total_bytes} bytes cannot fill {shards} shards"
                " (TFDS's shard_utils would loop forever)"
            )
        return shards
    for n in (512, 256, 128, 64, 32, 16, 8, 4, 2):
        if min_shards <= n <= max_shards and num_examples >= n:
            return n
    return 1


def shard_of_key(sort_key: int, max_sort_key: int, num_shards: int) -> int:
    """Returns the shard TFDS's Beam writer puts an example in, from its hashed key.

    ``BeamWriter`` (``shuffle.get_bucket_number``) cuts the range ``[0, largest hashed key]``
    of the split into ``num_shards`` equal intervals, so shards hold contiguous runs of the
    sorted order but not equal counts. Shards that get no example are then dropped and the
    rest renumbered in order (``compact_shards``).

    Args:
        sort_key: the example's ``example_sort_key``.
        max_sort_key: the largest ``example_sort_key`` of the split.
        num_shards: ``num_shards_for`` of the split.

    Returns:
        The shard index before empty shards are dropped.
    """
    if max_sort_key <= 0:
        return 0
    # Same float expression as TFDS, so rounding at interval edges agrees with it.
    return min(math.trunc((sort_key * num_shards) / max_sort_key), num_shards - 1)


def compact_shards(shard_lengths: Sequence[int]) -> list[int]:
    """Returns the shard lengths once empty shards are dropped, as TFDS's writer does."""
    return [n for n in shard_lengths if n > 0]


def shard_of(index_in_sorted_order: int, num_examples: int, num_shards: int) -> int:
    """Returns the shard of the example at a position of the sorted order, by equal counts.

    This is TFDS's precise sharding (``shard_utils.get_shard_boundaries``, used by its
    non-Beam ``Writer``): shard ``i`` ends at ``round(num_examples * (i + 1) / num_shards)``,
    so shards are contiguous runs of the sorted order whose lengths differ by at most one.
    TFDS's Beam writer, which built C4, splits by key range instead: see ``shard_of_key``.

    Args:
        index_in_sorted_order: 0-based position in ascending ``example_sort_key`` order.
        num_examples: the number of examples in the split.
        num_shards: the number of shards (at most ``num_examples``).

    Returns:
        The 0-based shard index.
    """
    if not 0 <= index_in_sorted_order < num_examples:
        raise ValueError(f"index {index_in_sorted_order} outside [0, {num_examples})")
    if num_shards > num_examples:
        raise ValueError(f"num_examples ({num_examples}) < number of shards ({num_shards})")
    shard = index_in_sorted_order * num_shards // num_examples
    # round() of the boundary can move it by one either way: step to the right shard.
    while shard > 0 and index_in_sorted_order < _shard_end(shard - 1, num_examples, num_shards):
        shard -= 1
    while index_in_sorted_order >= _shard_end(shard, num_examples, num_shards):
        shard += 1
    return shard


def _shard_end(shard: int, num_examples: int, num_shards: int) -> int:
    # Python's round() (half to even) on a float, exactly as get_shard_boundaries computes it.
    return round(num_examples * (shard + 1) / num_shards)


def shard_lengths_for(num_examples: int, num_shards: int) -> list[int]:
    """Returns the shard lengths of ``shard_of``'s equal-count sharding."""
    ends = [_shard_end(i, num_examples, num_shards) for i in range(num_shards)]
    return [end - start for start, end in zip([0, *ends[:-1]], ends, strict=True)]
