"""lightning-imc: hardware-aware neural architecture search on compute-in-memory crossbars.

    python train.py                          # the default: one RLS child on the embedded digits
    python train.py +experiment=quickstart   # see conf/experiment/ for the paper's setups
    python train.py candidate=random seed=3 trainer.max_epochs=5 logger=none
    python train.py mode=search search.mode=ptbnas controller=evolution   # a search (resumable)

A configuration error is reported on one line (the key and what is allowed) with exit status 2,
before any data is loaded.
"""

import sys

import hydra
from omegaconf import DictConfig

from lightning_imc.app import run
from lightning_imc.settings import ConfigError


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lightning_imc.search.history import HistoryError

    try:
        results = run(cfg)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        sys.exit(2)
    except HistoryError as err:  # a damaged, foreign or different search's history: never overwritten
        print(f"history error: {err}", file=sys.stderr)
        sys.exit(2)
    from lightning_imc.app import format_child_summary, format_search_summary

    print(format_search_summary(results) if "n_records" in results else format_child_summary(results))


if __name__ == "__main__":
    main()
