"""lightning-imc: hardware-aware neural architecture search on compute-in-memory crossbars.

    python train.py                          # the default: one RLS child on the embedded digits
    python train.py +experiment=quickstart   # see conf/experiment/ for the paper's setups
    python train.py candidate=random seed=3 trainer.max_epochs=5 logger=none

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
    try:
        results = run(cfg)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        sys.exit(2)
    from lightning_imc.app import format_child_summary

    print(format_child_summary(results))


if __name__ == "__main__":
    main()
