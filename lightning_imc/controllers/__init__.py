"""Ask/tell search controllers over spaces of categorical dimensions.

The controllers know nothing about networks, hardware, Lightning or Hydra: a search space is
just ``cardinalities`` (number of choices per dimension) and a proposal is a list of ints, so
they run equally on NACIM's co-exploration loop, a tabular benchmark or a synthetic landscape.

Contract (see :class:`Controller`)::

    ctrl = get_controller("reinforce", cardinalities=[4, 4, 2, 7], seed=0, batch_size=10)
    codes = ctrl.ask(10)                 # 10 lists of ints, codes[k][i] in [0, cardinalities[i])
    ctrl.tell(codes, rewards)            # any order, possibly fewer; finite rewards only
    state = ctrl.state_dict()            # JSON-serialisable; load_state_dict restores exactly

Registered controllers:

* ``reinforce`` — :class:`ReinforceController`, the paper's LSTM controller with Monte-Carlo
  policy gradient (formula (2)) and a moving-average baseline.
* ``evolution`` — :class:`EvolutionController`, regularized (aging) evolution.
* ``random`` — :class:`RandomController`, uniform sampling, the baseline.
* ``tpe`` — :class:`TPEController`, Optuna's Tree-structured Parzen Estimator.
* ``nsga2`` — :class:`NSGA2Controller`, Optuna's NSGA-II: several objectives (accuracy on chips
  against latency, energy, area or EDP), a Pareto front instead of a weighted reward.
* ``surrogate`` — :class:`SurrogateController`, a tree ensemble of the reward fitted on the history,
  proposing by an acquisition over many cheap candidates; never proposes what the chip model rules out.

Example:
    >>> from lightning_imc.controllers import get_controller
    >>> ctrl = get_controller("evolution", cardinalities=[3, 2], seed=0, population_size=4, sample_size=2)
    >>> codes = ctrl.ask(4)
    >>> ctrl.tell(codes, [float(sum(c)) for c in codes])
    >>> best_codes, best_reward = ctrl.best()
    >>> best_reward == max(float(sum(c)) for c in codes)
    True
"""

from .base import Controller, controller_hyperparameters, controller_names, get_controller, register_controller
from .evolution import EvolutionController
from .optuna_samplers import NSGA2Controller, TPEController
from .random_search import RandomController
from .reinforce import ReinforceController
from .surrogate import ExactPart, SurrogateController

__all__ = [
    "Controller",
    "EvolutionController",
    "NSGA2Controller",
    "ExactPart",
    "RandomController",
    "ReinforceController",
    "SurrogateController",
    "TPEController",
    "controller_hyperparameters",
    "controller_names",
    "get_controller",
    "register_controller",
]
