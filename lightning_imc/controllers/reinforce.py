"""``reinforce``: NACIM's RNN controller trained with Monte-Carlo policy gradient (formula (2)).

An LSTM emits one decision per dimension.  The input at step ``t`` is the embedding of the
action taken at step ``t - 1`` (a learned start token at step 1); a linear head per dimension
(output size = that dimension's cardinality) gives the softmax policy
``pi(a_t | a_<t)``; actions are sampled autoregressively.

After ``m = batch_size`` results have been told, one update minimises

    L = -(1/m) sum_k sum_t gamma^(T - t) A_k log pi(a_t^k | a_<t^k)  +  w * max(0, H_floor - H)  [- beta * H]

(``T`` = number of dimensions; the reward arrives after the last decision and is discounted
back with ``gamma``).  With ``advantage_scale="none"`` the advantage is ``A_k = R_k - b``, the
paper's formula (2).  The baseline ``b`` is an exponential moving average of the rewards: the
advantages of a batch use the baseline from *before* the batch, then ``b`` is updated with each
reward of the batch in order, ``b <- decay * b + (1 - decay) * R``.  Before the first update ``b``
is ``initial_baseline`` or, if that is ``None``, the mean reward of the first batch (so the first
advantages are centred instead of all positive).  Log-probabilities are recomputed for the told
codes with the current network (teacher forcing), so tells may come in any order and include codes
that were never asked.

What keeps it exploring (the defaults).  Measured by ``scripts/bench_controllers.py --ablation
--ablation-seeds 8`` on the structured landscapes of :mod:`lightning_imc.controllers.benchmark`
(8 dimensions, 86,400 points, batches of 10, runs of at least 500 proposals; random needs a median
of several hundred queries to the top 0.1%): median queries to the top 0.1% on chain / plateau,
repeat rate mean (worst run).

=====================================  ==============  =========================
variant                                queries         repeats
=====================================  ==============  =========================
configured (all of the below)          92 / 92         0.00 / 0.06 (0.00 / 0.18)
without the entropy floor              92 / 86         0.49 / 0.49 (0.59 / 0.69)
without the duplicate re-draw          92 / 75         0.30 / 0.36 (0.34 / 0.42)
raw advantages ``R - b``               354 / 195       0.00 / 0.00
Adam, lr 0.01, no clip                 137 / 108       0.00 / 0.02 (0.00 / 0.10)
earlier controller (formula (2) only)  151 / 118       0.71 / 0.68 (0.93 / 0.74)
=====================================  ==============  =========================

* **Formula (2) alone with Adam collapses**: Adam normalises each parameter's step, so a batch whose
  rewards differ only by noise still moves every logit by a full ``lr``; after a few dozen updates
  one candidate holds most of the probability and most proposals are repeats.
* **Bounded steps** (``optimizer="sgd"``, ``grad_clip=2``): SGD's step is proportional to the
  gradient, so small reward differences make small steps, and the clip bounds the longest step to
  ``lr * grad_clip``.  Against Adam (other changes kept) it finds the top 0.1% in 92 instead of
  137 / 108 queries.
* **Normalised advantages** (``advantage_scale="running_std"``): ``A = (R - b) / s`` with ``s`` the
  running standard deviation of the rewards around the baseline, so SGD's step does not depend on
  the reward's units (accuracy in [0, 1], a reward spread of a few hundredths) while a batch that
  differs little from the search's usual spread still gives small advantages.  Without it SGD at
  the same ``lr`` learns too slowly (354 / 195 queries).
* **Entropy regularisation** (``target_entropy=0.5``, ``entropy_floor_weight=1``): a hinge that
  pushes the policy's entropy (summed over dimensions) back up whenever it falls below half the
  uniform policy's, so the policy never settles on one candidate; without it half of the proposals
  are repeats (worst run 69%).  (A plain bonus ``beta * H`` at 0.01 barely changed the earlier
  controller's repeats, 71% → 56%.)
* **No repeated proposals** (``avoid_duplicates``): a proposal equal to an earlier one is re-drawn
  from the policy (one batch of :data:`DUPLICATE_RESAMPLES`, the first unseen one kept; if the policy
  is so sharp that none is unseen, the nearest unseen point to its proposal); the search loop would only
  reuse the earlier result, so a repeat wastes an episode. A fallback point was not sampled by the
  policy, so it moves the baseline but carries no policy gradient: formula (2) is an estimator for the
  policy's own samples, and an unlikely point with a negative advantage pushes probability onto the
  policy's mode (with the gradient, the entropy of plateau seed 0 fell to 0.25 of the uniform policy's
  after 800 proposals; without the fallback, a third of the proposals were repeats).  Without it, with the
  floor, about a third of the proposals repeat.

Defaults and the paper.  NACIM (Sec. V-A) sets "the updating rate of the controller" to 0.2
without naming the optimiser; we read it as the learning rate of the paper's own optimiser, not a
value to transplant (Adam at 0.2 saturated the softmax within a few updates).  ``gamma = 0.99``
follows the paper's "rewards are discounted at every step" (with ~10 decisions it changes per-step
weights by at most ~10 %); ``baseline_decay = 0.95``.  The earlier controller is
``optimizer="adam", lr=0.01, grad_clip=None, advantage_scale="none", target_entropy=None,
avoid_duplicates=False``.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

import torch
from torch import nn

from .base import (
    Controller,
    check_number,
    decode_tensor,
    decode_tree,
    encode_tensor,
    encode_tree,
    nearest_unseen,
    random_state_from_json,
    random_state_to_json,
    register_controller,
)

__all__ = ["ReinforceController", "PolicyNetwork", "OPTIMIZERS", "ADVANTAGE_SCALES"]

OPTIMIZERS = ("adam", "sgd")
"""Optimisers of the policy: Adam (per-parameter normalised steps) or plain SGD (steps proportional to
the gradient, so small advantages make small steps)."""

ADVANTAGE_SCALES = ("none", "running_std", "batch_std")
"""``none``: ``R - b`` as in formula (2); ``running_std``: divided by the running standard deviation of
the rewards around the baseline (the search's own reward scale); ``batch_std``: centred and divided by
the batch's standard deviation."""

ADVANTAGE_EPS = 1e-8
DUPLICATE_RESAMPLES = 64
"""Policy re-draws of a proposal that repeats an earlier one (``avoid_duplicates``) before accepting it."""


class PolicyNetwork(nn.Module):
    """LSTM policy over categorical dimensions.

    Args:
        cardinalities: Choices per dimension.
        hidden_size: LSTM hidden size.
        embedding_size: Size of the action embeddings.
    """

    def __init__(self, cardinalities: Sequence[int], hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.cardinalities = list(cardinalities)
        offsets = [1]
        for c in self.cardinalities[:-1]:
            offsets.append(offsets[-1] + c)
        self.offsets = offsets  # index 0 = start token, then each dimension's actions
        # built on the meta device so that construction never touches the global RNG
        self.embedding = nn.Embedding(1 + sum(self.cardinalities), embedding_size, device="meta")
        self.cell = nn.LSTMCell(embedding_size, hidden_size, device="meta")
        self.heads = nn.ModuleList(nn.Linear(hidden_size, c, device="meta") for c in self.cardinalities)
        self.hidden_size = hidden_size

    def initialise(self, generator: torch.Generator, init_range: float) -> None:
        """Materialise on CPU with every parameter uniform in ``[-init_range, init_range]``."""
        self.to_empty(device="cpu")
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-init_range, init_range, generator=generator)

    def _start(self, n: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x = self.embedding(torch.zeros(n, dtype=torch.long))
        h = torch.zeros(n, self.hidden_size)
        return x, (h, torch.zeros_like(h))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Sample ``n`` action sequences, shape ``(n, T)``."""
        x, state = self._start(n)
        actions = []
        for t, head in enumerate(self.heads):
            state = self.cell(x, state)
            probs = torch.softmax(head(state[0]), dim=-1)
            a = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            actions.append(a)
            x = self.embedding(a + self.offsets[t])
        return torch.stack(actions, dim=1)

    def log_probs(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step ``log pi(a_t | a_<t)`` and entropies for given sequences, each ``(n, T)``."""
        n = actions.shape[0]
        x, state = self._start(n)
        logps, entropies = [], []
        for t, head in enumerate(self.heads):
            state = self.cell(x, state)
            logp_all = torch.log_softmax(head(state[0]), dim=-1)
            logps.append(logp_all.gather(1, actions[:, t : t + 1]).squeeze(1))
            entropies.append(-(logp_all.exp() * logp_all).sum(dim=-1))
            x = self.embedding(actions[:, t] + self.offsets[t])
        return torch.stack(logps, dim=1), torch.stack(entropies, dim=1)


@register_controller("reinforce")
class ReinforceController(Controller):
    """NACIM's RNN controller (REINFORCE with an exponential-moving-average baseline).

    Args:
        cardinalities: Number of choices per dimension.
        seed: Seed of the controller's ``torch.Generator`` (weights and sampling).
        batch_size: ``m``, results per update (>= 1); told results accumulate until ``m``.
        hidden_size: LSTM hidden size (>= 1).
        embedding_size: Action-embedding size (>= 1); ``None`` = ``hidden_size``.
        lr: Learning rate of ``optimizer``, in ``(0, 10]``.
        gamma: Discount ``gamma`` of formula (2), in ``(0, 1]``.
        baseline_decay: Decay of the reward moving average, in ``[0, 1)``.
        initial_baseline: Baseline before the first update; ``None`` = first batch's mean reward.
        entropy_weight: Weight of the entropy bonus (>= 0; 0 = off, as in the paper).
        grad_clip: Clip the gradient's global norm to this value (> 0), ``None`` = no clipping.
        init_range: Parameters start uniform in ``[-init_range, init_range]`` (> 0), so the
            initial policy is close to uniform.
        initial: Codes to bias the initial policy towards (e.g. the previous search step's
            specification): each head's bias gets ``initial_logit_bias`` times the fraction of
            ``initial`` codes choosing that value.
        initial_logit_bias: Strength of that bias (>= 0).
        optimizer: ``sgd`` (steps proportional to the gradient) or ``adam`` (the earlier default,
            per-parameter normalised steps), see :data:`OPTIMIZERS`.
        advantage_scale: How advantages are scaled, see :data:`ADVANTAGE_SCALES`.
        avoid_duplicates: Re-draw (from the policy, one batch of :data:`DUPLICATE_RESAMPLES`) a
            proposal that repeats an earlier proposal or told code, while the space has unseen points;
            if none of them is unseen, the unseen point nearest to the proposal.
        target_entropy: Entropy floor as a fraction of the uniform policy's entropy, in ``(0, 1)``;
            ``None`` = no floor.
        entropy_floor_weight: Weight of the hinge ``max(0, floor - H)`` added to the loss (>= 0).
    """

    def __init__(
        self,
        cardinalities: Sequence[int],
        seed: int = 0,
        *,
        batch_size: int = 10,
        hidden_size: int = 64,
        embedding_size: int | None = None,
        lr: float = 1.0,
        gamma: float = 0.99,
        baseline_decay: float = 0.95,
        initial_baseline: float | None = None,
        entropy_weight: float = 0.0,
        grad_clip: float | None = 2.0,
        init_range: float = 0.1,
        initial: Sequence[Sequence[int]] | None = None,
        initial_logit_bias: float = 2.0,
        optimizer: str = "sgd",
        advantage_scale: str = "running_std",
        avoid_duplicates: bool = True,
        target_entropy: float | None = 0.5,
        entropy_floor_weight: float = 1.0,
    ) -> None:
        super().__init__(cardinalities, seed)
        self.batch_size: int = check_number("batch_size", batch_size, low=1, integer=True)
        self.hidden_size: int = check_number("hidden_size", hidden_size, low=1, integer=True)
        self.embedding_size: int | None = (
            None if embedding_size is None else check_number("embedding_size", embedding_size, low=1, integer=True)
        )
        self.lr: float = check_number("lr", lr, low=0.0, high=10.0, low_open=True)
        self.gamma: float = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)
        self.baseline_decay: float = check_number("baseline_decay", baseline_decay, low=0.0, high=1.0, high_open=True)
        self.initial_baseline: float | None = (
            None if initial_baseline is None else check_number("initial_baseline", initial_baseline)
        )
        self.entropy_weight: float = check_number("entropy_weight", entropy_weight, low=0.0)
        self.grad_clip: float | None = (
            None if grad_clip is None else check_number("grad_clip", grad_clip, low=0.0, low_open=True)
        )
        self.init_range: float = check_number("init_range", init_range, low=0.0, low_open=True)
        self.initial_logit_bias: float = check_number("initial_logit_bias", initial_logit_bias, low=0.0)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={optimizer!r}; allowed: {list(OPTIMIZERS)}")
        if advantage_scale not in ADVANTAGE_SCALES:
            raise ValueError(f"advantage_scale={advantage_scale!r}; allowed: {list(ADVANTAGE_SCALES)}")
        if not isinstance(avoid_duplicates, bool):
            raise ValueError(f"avoid_duplicates must be a bool, got {avoid_duplicates!r}")
        self.target_entropy: float | None = (
            None if target_entropy is None else check_number("target_entropy", target_entropy, low=0.0, high=1.0,
                                                              low_open=True, high_open=True))
        self.entropy_floor_weight: float = check_number("entropy_floor_weight", entropy_floor_weight, low=0.0)
        self.optimizer_name: str = optimizer
        self.advantage_scale: str = advantage_scale
        self.avoid_duplicates: bool = avoid_duplicates
        if initial is None:
            initial = []
        if isinstance(initial, (str, bytes)) or not hasattr(initial, "__iter__"):
            raise ValueError(f"initial must be a list of codes, got {initial!r}")
        self.initial: list[list[int]] = [self.check_codes(c, where=f"initial[{k}]") for k, c in enumerate(initial)]

        self._generator = torch.Generator().manual_seed(self.seed)
        self.policy = PolicyNetwork(self.cardinalities, self.hidden_size, self.embedding_size or self.hidden_size)
        self.policy.initialise(self._generator, self.init_range)
        if self.initial:
            self._bias_towards(self.initial)
        if self.optimizer_name == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr)
        else:
            self.optimizer = torch.optim.SGD(self.policy.parameters(), lr=self.lr)
        self.baseline: float | None = self.initial_baseline
        self.reward_variance: float | None = None
        self.max_entropy: float = sum(math.log(c) for c in self.cardinalities)
        self.last_entropy: float | None = None
        self._seen: set[tuple[int, ...]] = set()
        self._fallback_rng = random.Random(self.seed)
        self._off_policy: set[tuple[int, ...]] = set()
        self.num_updates = 0
        self._buffer: list[tuple[list[int], float]] = []
        self.last_loss: float | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "hidden_size": self.hidden_size,
            "embedding_size": self.embedding_size,
            "lr": self.lr,
            "gamma": self.gamma,
            "baseline_decay": self.baseline_decay,
            "initial_baseline": self.initial_baseline,
            "entropy_weight": self.entropy_weight,
            "grad_clip": self.grad_clip,
            "init_range": self.init_range,
            "initial": [list(c) for c in self.initial],
            "initial_logit_bias": self.initial_logit_bias,
            "optimizer": self.optimizer_name,
            "advantage_scale": self.advantage_scale,
            "avoid_duplicates": self.avoid_duplicates,
            "target_entropy": self.target_entropy,
            "entropy_floor_weight": self.entropy_floor_weight,
        }

    # ------------------------------------------------------------------ policy
    def _bias_towards(self, codes: Sequence[Sequence[int]]) -> None:
        with torch.no_grad():
            for i, head in enumerate(self.policy.heads):
                assert isinstance(head, nn.Linear)
                counts = torch.zeros(self.cardinalities[i])
                for code in codes:
                    counts[code[i]] += 1.0
                head.bias.add_(self.initial_logit_bias * counts / len(codes))

    def log_prob(self, codes: Sequence[Sequence[int]]) -> list[float]:
        """``log pi(codes)`` (sum over dimensions) under the current policy, one per code."""
        checked = [self.check_codes(c, where=f"codes[{k}]") for k, c in enumerate(codes)]
        if not checked:
            return []
        with torch.no_grad():
            logp, _ = self.policy.log_probs(torch.tensor(checked, dtype=torch.long))
        return logp.sum(dim=1).tolist()

    def probabilities(self, codes: Sequence[int]) -> list[list[float]]:
        """Per-dimension softmax along the prefix of ``codes`` (for inspection and plots)."""
        code = self.check_codes(codes)
        with torch.no_grad():
            x, state = self.policy._start(1)
            out = []
            for t, head in enumerate(self.policy.heads):
                state = self.policy.cell(x, state)
                out.append(torch.softmax(head(state[0]), dim=-1)[0].tolist())
                x = self.policy.embedding(torch.tensor([code[t] + self.policy.offsets[t]]))
        return out

    # ------------------------------------------------------------------ ask/tell
    def _ask(self, n: int) -> list[list[int]]:
        codes = self.policy.sample(n, self._generator).tolist()
        if self.avoid_duplicates:
            for k in range(n):
                if tuple(codes[k]) in self._seen and len(self._seen) < self.space_size:
                    # one batch of re-draws from the policy; the first unseen one replaces the repeat
                    for code in self.policy.sample(DUPLICATE_RESAMPLES, self._generator).tolist():
                        if tuple(code) not in self._seen:
                            codes[k] = code
                            break
                    else:  # the policy is too sharp to find an unseen point: the nearest unseen one
                        fresh = nearest_unseen(self._fallback_rng, codes[k], self.cardinalities, self._seen)
                        if fresh is not None:
                            codes[k] = fresh
                            self._off_policy.add(tuple(fresh))
                self._seen.add(tuple(codes[k]))
        return codes

    def _tell(self, codes: list[list[int]], rewards: list[float]) -> None:
        if self.avoid_duplicates:
            self._seen.update(tuple(c) for c in codes)
        self._buffer.extend((list(c), r) for c, r in zip(codes, rewards))
        while len(self._buffer) >= self.batch_size:
            batch, self._buffer = self._buffer[: self.batch_size], self._buffer[self.batch_size :]
            self._update([c for c, _ in batch], [r for _, r in batch])

    def _seed(self, codes: list[list[int]], rewards: list[float]) -> None:
        """Bias the policy towards the best seeded code; seed the baseline with their mean reward."""
        best = max(range(len(codes)), key=lambda k: rewards[k])
        self._bias_towards([codes[best]])
        if self.baseline is None:
            self.baseline = sum(rewards) / len(rewards)

    def _update(self, codes: list[list[int]], rewards: list[float]) -> None:
        m = len(codes)
        baseline = self.baseline if self.baseline is not None else sum(rewards) / m
        advantages = torch.tensor([r - baseline for r in rewards], dtype=torch.float32)
        # the policy did not sample its fallback points: no gradient through them (they still move b)
        on_policy = torch.tensor([tuple(c) not in self._off_policy for c in codes], dtype=torch.float32)
        self._off_policy.difference_update(tuple(c) for c in codes)
        # running variance of the rewards around the baseline (same decay), before this batch
        deviations = [(r - baseline) ** 2 for r in rewards]
        variance = self.reward_variance if self.reward_variance is not None else sum(deviations) / m
        if self.advantage_scale == "running_std":
            advantages = advantages / max(variance ** 0.5, ADVANTAGE_EPS)
        elif self.advantage_scale == "batch_std" and m > 1:
            centred = advantages - advantages.mean()
            advantages = centred / max(float(centred.std()), ADVANTAGE_EPS)
        T = self.num_dimensions
        discounts = torch.tensor([self.gamma ** (T - t) for t in range(1, T + 1)], dtype=torch.float32)
        logp, entropy = self.policy.log_probs(torch.tensor(codes, dtype=torch.long))
        loss = -((on_policy * advantages)[:, None] * discounts[None, :] * logp).sum() / m
        mean_entropy = entropy.sum(dim=1).mean()
        if self.entropy_weight > 0:
            loss = loss - self.entropy_weight * mean_entropy
        if self.target_entropy is not None and self.entropy_floor_weight > 0:
            # a hinge: below the floor (a fraction of the uniform policy's entropy) the entropy is pushed up
            floor = self.target_entropy * self.max_entropy
            loss = loss + self.entropy_floor_weight * torch.relu(floor - mean_entropy)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.policy.parameters(), self.grad_clip)
        self.optimizer.step()
        for r in rewards:
            baseline = self.baseline_decay * baseline + (1.0 - self.baseline_decay) * r
        self.baseline = baseline
        for d in deviations:
            variance = self.baseline_decay * variance + (1.0 - self.baseline_decay) * d
        self.reward_variance = variance
        self.last_entropy = float(mean_entropy.detach())
        self.num_updates += 1
        self.last_loss = float(loss.detach())

    # ------------------------------------------------------------------ state
    def _extra_state(self) -> dict[str, Any]:
        return {
            "generator": encode_tensor(self._generator.get_state()),
            "policy": encode_tree(self.policy.state_dict()),
            "optimizer": encode_tree(self.optimizer.state_dict()),
            "baseline": self.baseline,
            "reward_variance": self.reward_variance,
            "last_entropy": self.last_entropy,
            "seen": sorted(list(c) for c in self._seen),
            "fallback_rng": random_state_to_json(self._fallback_rng.getstate()),
            "off_policy": sorted(list(c) for c in self._off_policy),
            "num_updates": self.num_updates,
            "buffer": [[list(c), r] for c, r in self._buffer],
            "last_loss": self.last_loss,
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._generator.set_state(decode_tensor(extra["generator"]))
        self.policy.load_state_dict(decode_tree(extra["policy"]))
        optim_state = decode_tree(extra["optimizer"])
        optim_state["state"] = {int(k): v for k, v in optim_state["state"].items()}
        self.optimizer.load_state_dict(optim_state)
        self.baseline = None if extra["baseline"] is None else float(extra["baseline"])
        self.reward_variance = None if extra["reward_variance"] is None else float(extra["reward_variance"])
        self._seen = {tuple(int(v) for v in c) for c in extra["seen"]}
        self._fallback_rng.setstate(random_state_from_json(extra["fallback_rng"]))
        self._off_policy = {tuple(int(v) for v in c) for c in extra["off_policy"]}
        self.last_entropy = None if extra["last_entropy"] is None else float(extra["last_entropy"])
        self.num_updates = int(extra["num_updates"])
        self._buffer = [([int(v) for v in c], float(r)) for c, r in extra["buffer"]]
        self.last_loss = None if extra["last_loss"] is None else float(extra["last_loss"])
