"""What every training worker does as it starts (a Dask preload: `dask worker --preload core.worker_setup`; the
embedded cluster names it in its settings).

A worker's temporary files go into its own folder, which Dask removes when the worker closes and, after a crash,
when the next worker starts. Left in the system's temporary folder they would stay: TensorFlow writes one source
file for every function it converts (a run's data pipeline, its training step) and removes them at exit, but a
worker process ends with os._exit (as every multiprocessing child does) and never runs that cleanup, nor the
removal of a folder a killed run had open. Measured before: bench/soak.py's class (two learners training all
lesson) left 104 such files in /tmp in 95 minutes, every one of them there for good.
"""

from __future__ import annotations

import tempfile


def dask_setup(worker) -> None:
    tempfile.tempdir = worker.local_directory
