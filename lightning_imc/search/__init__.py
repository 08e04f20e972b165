"""The co-exploration loop (NACIM section IV): modes, phases, executors, history, Pareto front and report.

* :mod:`lightning_imc.search.loop` — the optimizer selector (:data:`MODE_SWITCHES`), :class:`Search`,
  the local and Ray executors;
* :mod:`lightning_imc.search.evaluate` — one child as plain data (:class:`ChildJob`), run anywhere;
* :mod:`lightning_imc.search.history` — the durable SQLite history (resume after any crash);
* :mod:`lightning_imc.search.pareto` and :mod:`lightning_imc.search.report` — Pareto fronts,
  hypervolume, the Table II report and plots.
"""

from .evaluate import ChildContext, ChildDidNotLearn, ChildJob, child_seed, run_child_job
from .loop import (MODE_SWITCHES, LocalExecutor, RayExecutor, Search, SearchInputError, child_threads, make_executor,
                   search_fingerprint, top_architectures)

__all__ = [
    "ChildContext", "ChildDidNotLearn", "ChildJob", "child_seed", "run_child_job",
    "MODE_SWITCHES", "LocalExecutor", "RayExecutor", "Search", "SearchInputError", "child_threads", "make_executor",
    "search_fingerprint", "top_architectures",
]
