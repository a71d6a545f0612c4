"""c4-pipeline: build C4 (T5's Colossal Clean Crawled Corpus) from Common Crawl with Apache Beam.

Dataflow workers install this package through ``--setup_file``; keep its install light
(the pinned Beam, the detectors, the tokenizer data) and its packages explicit.
"""

from pathlib import Path

from setuptools import Extension, find_packages, setup

BEAM = "apache-beam[gcp]==2.77.0"

setup(
    name="c4-pipeline",
    version="0.1.0",
    description="Exact, fast, traceable C4 builder on Apache Beam (TFDS c4 3.1.0, 2.2.0, 1.0.0).",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.12",
    # c4_examples: the trainers' readers and Switch Transformer (docs/training.md), importable.
    packages=find_packages(
        include=["filters", "filters.*", "pipeline", "pipeline.*", "c4_examples"]
    ),
    package_data={
        "filters": ["data/*", "data/**/*"],
        "pipeline": ["data/*", "data/**/*"],
        "pipeline.cloud": ["data/*.json"],  # c4 estimate's measured rates
    },
    include_package_data=True,
    install_requires=[
        BEAM,
        "langdetect-rs==0.1.0",
        "langdetect==1.0.9",
        "nltk==3.10.4",
        "cld3-py==3.1.0",
        # ISA-L inflate for WET parsing (filters/wet.py): same bytes as zlib, about twice as fast.
        "isal==1.9.1",
        # Pages cross the shuffles zstd-compressed (pipeline/transforms/packing.py).
        "zstandard==0.25.0",
        "numpy==2.4.6",  # pipeline/transforms/vote_rows.py
        "tldextract==5.4.0",
        # UTS #46 host keys of forget/trace/blocklists (filters/lineage.py); pinned as in the lock.
        "idna==3.20",
        "pyarrow==25.0.1",
        # The shipped vocabulary's bytes depend on it; masking runs on the workers.
        "sentencepiece==0.2.3",
    ],
    extras_require={
        "dask": ["apache-beam[dask]==2.77.0", "dask==2026.8.0", "distributed==2026.8.0"],
        "dev": [
            *("ruff", "mypy", "pytest", "pytest-xdist", "pytest-timeout", "hypothesis"),
            "matplotlib==3.10.8",  # benchmarks/plots.py (make bench)
        ],
        # The real readers the tests read our output back with (tfds, tf.data).
        "test": [
            "tensorflow-cpu==2.21.0",
            "tensorflow-datasets==4.9.10",
            # A real GCS server on 127.0.0.1; 2026.7.19 has the batch copy Beam's rename uses.
            "gcp-storage-emulator==2026.7.19",
            # The trainers' readers of DIR/masked/ (docs/training.md) and c4_examples/moe_switch.py.
            "torch==2.13.0",
            "datasets==5.2.0",
        ],
    },
    entry_points={"console_scripts": ["c4=pipeline.cli:main"]},
    # The compiled core (filters/kernels.py): C kernels of the per-line loops. Optional: where it
    # cannot be built (no C compiler or Python headers) the install still succeeds and the
    # pure-Python twins run, with one warning line.
    # -ffp-contract=off: langdetect's port must round every a*b+c as Python does (no FMA).
    ext_modules=[
        Extension(
            "filters._native",
            ["filters/_native.c"],
            extra_compile_args=["-ffp-contract=off"],
            libraries=["m"],
            optional=True,
        )
    ],
)
