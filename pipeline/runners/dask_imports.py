"""Imported by the forkserver of ``C4DaskRunner``'s local cluster (``dask_worker.main``): Beam
and the job's modules, imported once in the process every worker is then forked from."""

from pipeline.runners.dask_worker import dask_setup

dask_setup()
