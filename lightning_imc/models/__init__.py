"""Child networks built from candidates, and the LightningModule that trains them with variation."""

from .module import OPTIMIZERS, SCHEDULERS, ChildModule, OptimizerConfig
from .networks import CHILD_SCALING, ChildNetwork, build_network, child_imc_config, layer_config

__all__ = ["ChildModule", "OptimizerConfig", "OPTIMIZERS", "SCHEDULERS", "ChildNetwork", "build_network", "layer_config",
           "child_imc_config", "CHILD_SCALING"]
