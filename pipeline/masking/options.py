"""The masking flags, declared once for ``c4 mask`` and ``c4 build --mask``, and their checks.

Pure: argparse and dataclasses only, so ``pipeline.config`` (no Beam) can hold and check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.masking.packing import MaskConfig

_DEFAULTS = MaskConfig()
# The model shipped in pipeline/data/vocab/, trained on English C4 only.
SHIPPED_VOCAB = "c4_sample_8k"
# Build configs whose documents are not English: the shipped vocabulary does not cover them.
NON_ENGLISH_CONFIGS = ("multilingual",)


@dataclass(frozen=True)
class MaskOptions:
    """What the masking flags say; ``vocab`` None is the shipped English vocabulary."""

    vocab: str | None = None
    seed: int = _DEFAULTS.seed
    epoch: int = _DEFAULTS.epoch
    inputs_length: int = _DEFAULTS.inputs_length
    targets_length: int = _DEFAULTS.targets_length
    noise_density: float = _DEFAULTS.noise_density
    mean_noise_span_length: float = _DEFAULTS.mean_noise_span_length
    allow_english_vocab: bool = False

    @classmethod
    def from_args(cls, args: Any) -> MaskOptions:
        """The options of parsed flags (``add_mask_arguments``'s destinations)."""
        return cls(
            vocab=args.vocab,
            seed=args.seed,
            epoch=args.epoch,
            inputs_length=args.inputs_length,
            targets_length=args.targets_length,
            noise_density=args.noise_density,
            mean_noise_span_length=args.mean_noise_span_length,
            allow_english_vocab=args.allow_english_vocab,
        )

    def mask_config(self) -> dict[str, Any]:
        """The ``MaskConfig`` fields these options set."""
        return {
            "inputs_length": self.inputs_length,
            "targets_length": self.targets_length,
            "noise_density": self.noise_density,
            "mean_noise_span_length": self.mean_noise_span_length,
            "seed": self.seed,
            "epoch": self.epoch,
        }

    def given(self) -> list[str]:
        """The flags set to something other than their default (for ``c4 build`` without
        ``--mask``, where they would do nothing)."""
        default = MaskOptions()
        return [
            "--" + name
            for name in self.__dataclass_fields__
            if getattr(self, name) != getattr(default, name)
        ]


def add_mask_arguments(parser: Any) -> None:
    """Declare the masking flags on an argparse-compatible parser."""
    parser.add_argument(
        "--vocab",
        default=None,
        help="SentencePiece model, local or gs:// (default: the shipped English "
        f"{SHIPPED_VOCAB}.model; give one for a multilingual build)",
    )
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="seed of packing and masks (%(default)s)"
    )
    parser.add_argument(
        "--epoch", type=int, default=_DEFAULTS.epoch, help="pass over the data (%(default)s)"
    )
    parser.add_argument(
        "--inputs_length",
        type=int,
        default=_DEFAULTS.inputs_length,
        help="encoder length, EOS included (%(default)s)",
    )
    parser.add_argument(
        "--targets_length",
        type=int,
        default=_DEFAULTS.targets_length,
        help="decoder length, EOS included (%(default)s)",
    )
    parser.add_argument(
        "--noise_density",
        type=float,
        default=_DEFAULTS.noise_density,
        help="fraction of tokens masked (%(default)s)",
    )
    parser.add_argument(
        "--mean_noise_span_length",
        type=float,
        default=_DEFAULTS.mean_noise_span_length,
        help="mean masked span length (%(default)s)",
    )
    parser.add_argument(
        "--allow_english_vocab",
        action="store_true",
        help="mask a multilingual build with the English-only default vocabulary anyway",
    )


def english_vocab_refusal(build_config: str, options: MaskOptions) -> str | None:
    """Why masking a ``build_config`` build with these options is refused, or None.

    A multilingual build masked with the shipped English vocabulary loses much of its text to
    unknown tokens (15-30 % of the tokens of ru, zh or ar pages): refused unless a vocabulary
    is given or ``--allow_english_vocab`` says it is meant.
    """
    if build_config not in NON_ENGLISH_CONFIGS or options.vocab or options.allow_english_vocab:
        return None
    return (
        f"--vocab: a {build_config} build needs a vocabulary that covers its languages; the "
        f"default {SHIPPED_VOCAB} is English-only (15-30% unknown tokens on ru, zh, ar): give "
        "--vocab MODEL (mT5's, or c4 vocab train on this build) or pass --allow_english_vocab"
    )
