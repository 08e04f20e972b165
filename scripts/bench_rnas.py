"""Does rNAS improve a trained design? Proposals around one fine-tuned parent, on its saved weights.

NACIM's second phase: one architecture that ptbNAS would keep (the RLS space's default child: 6 conv
layers of 36 3×3 filters, FC 128, Q1.3 weights, Q3.4 inputs, the paper's 4-bit ReRAM, 64×64 arrays,
4-bit ADCs, 4 columns per ADC) is trained noise-aware on a Fashion-MNIST subset (scikit-learn's digits
when Fashion-MNIST is not installed), then fine-tuned. rNAS then proposes ``--proposals`` quantization
+ circuit designs around it (:class:`~lightning_imc.search.neighbourhood.NeighbourhoodProposer`: the
specification first, then mutations of a few layers of the best design so far — or, with
``--moves cost_descent``, the untried one-step move the chip model rates cheapest — and a share
``1 - --share`` drawn uniformly from the whole space as the stand-in controller); each proposal gets the
parent's weights as they are (no retraining: the per-layer weight scale makes the format mapping exact),
its input ranges set again for its own input formats (``--calib-batches`` unlabelled batches, as the
search's ``rnas_input_calibration_batches``), an optional BatchNorm re-estimation under variation
(``--bn-batches``, unlabelled), and is judged on the
same ``--chips`` Monte-Carlo chips and with the chip model (EDP, J·s). The reward that picks the
incumbent is NACIM's formula (3): ``alpha·accuracy + (1 − alpha)·F(latency, energy, area)``.

``--parent-history <a search.mode=nacim output folder>`` starts instead from that search's fine-tuned ptbNAS
architecture of rank ``--parent-rank`` (phase ``topk_finetune/<rank>``): its design, formats and weights.

Run: ``uv run python scripts/bench_rnas.py [--epochs 4] [--finetune-epochs 2] [--proposals 24]``.
Prints one row per proposal (changes from the parent, accuracy on chips, EDP, EDP gain), and as its LAST
line one JSON object with ``median_proposal_gap_points`` (parent's accuracy on chips − the median
proposal's, in points) and ``best_edp_gain_within_1pt`` (parent's EDP ÷ the lowest EDP among proposals
within 1 point of the parent on chips; null when none is).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch

from lightning_imc.callbacks import (HardwareMetricsCallback, estimate_reward_bounds, hardware_metrics, layer_cost_shares,
                                     measure_on_chips)
from lightning_imc.data import FashionMNISTDataModule, get_datamodule
from lightning_imc.layers import calibrate_input_ranges, reestimate_batchnorm_under_variation
from lightning_imc.models import ChildModule, OptimizerConfig, child_imc_config
from lightning_imc.reward import RewardConfig, compute_reward
from lightning_imc.search.neighbourhood import MOVES, NeighbourhoodProposer, changed_units, cost_unit_weights
from lightning_imc.space import get_space, to_child


def train(module: ChildModule, datamodule, epochs: int) -> float:
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return time.perf_counter() - start


def changes(space, parent: dict, candidate: dict) -> str:
    diff = [f"{name} {parent[name]}→{candidate[name]}" for name in space.names if candidate[name] != parent[name]]
    return ", ".join(diff) if diff else "(specification)"


def ptbnas_parent(full, history: Path, rank: int) -> tuple[dict, str]:
    """(design, checkpoint) of a NACIM search's fine-tuned ptbNAS architecture of ``rank`` (``topk_finetune/<rank>``)."""
    from lightning_imc.search.history import HistoryStore

    path = history / "history.sqlite" if history.is_dir() else history
    if not path.is_file():
        raise SystemExit(f"--parent-history: no history at {path} (a search.mode=nacim output folder or its history.sqlite)")
    with HistoryStore.open_readonly(str(path)) as store:
        records = [r for r in store.records() if r.phase == f"topk_finetune/{rank}" and r.ok and r.checkpoint_path]
    if not records:
        raise SystemExit(f"--parent-rank {rank}: {path} has no finished phase topk_finetune/{rank} with saved weights "
                         "(search.mode=nacim with search.topk_finetune_epochs > 0 writes it)")
    record = records[0]
    return full.canonical(dict(full.default_candidate()) | dict(record.choices)), str(record.checkpoint_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="fashion_mnist (default when installed) or digits")
    parser.add_argument("--epochs", type=int, default=4, help="noise-aware training of the parent (ptbNAS)")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="fine-tuning of the parent before rNAS")
    parser.add_argument("--train-samples", type=int, default=4096)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--chips", type=int, default=8)
    parser.add_argument("--proposals", type=int, default=24, help="rNAS proposals (the specification included)")
    parser.add_argument("--batch", type=int, default=4, help="proposals per batch (the incumbent moves between batches)")
    parser.add_argument("--share", type=float, default=0.75, help="share of mutations of the incumbent")
    parser.add_argument("--max-units", type=int, default=2, help="most layers/groups one mutation changes")
    parser.add_argument("--cost-share", type=float, default=0.0,
                        help="share of unit picks by each layer's share of the parent's chip cost (search.rnas_cost_share)")
    parser.add_argument("--moves", default="random", choices=MOVES,
                        help="random mutations, or cost_descent: the untried one-step move the chip model rates "
                             "cheapest (search.rnas_moves)")
    parser.add_argument("--calib-batches", type=int, default=4,
                        help="unlabelled batches that set each proposal's input ranges for its formats (0: the parent's)")
    parser.add_argument("--bn-batches", type=int, default=0, help="BatchNorm re-estimation under variation (0: off)")
    parser.add_argument("--bn-chips", type=int, default=4, help="chips each BatchNorm batch is seen through")
    parser.add_argument("--alpha", type=float, default=0.5, help="accuracy weight of the reward (formula (3))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--parent-weights", default=None,
                        help="state_dict file of the fine-tuned parent: loaded when it exists, else written after training")
    parser.add_argument("--parent-history", default=None,
                        help="a search.mode=nacim output folder (or its history.sqlite): the parent is its fine-tuned "
                             "ptbNAS architecture of rank --parent-rank (phase topk_finetune/<rank>), design and weights")
    parser.add_argument("--parent-rank", type=int, default=0, help="which fine-tuned top-K architecture of --parent-history")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    data = args.data or ("fashion_mnist" if FashionMNISTDataModule().locate() is not None else "digits")
    kwargs = dict(batch_size=256, max_train_samples=args.train_samples, max_eval_samples=args.eval_samples, seed=0)
    if data == "digits":
        kwargs["image_size"] = 16
    datamodule = get_datamodule(data, **kwargs)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    shape, classes = tuple(datamodule.input_shape), datamodule.num_classes
    full = get_space("rls")
    parent, parent_checkpoint = full.default_candidate(), None
    if args.parent_history:
        parent, parent_checkpoint = ptbnas_parent(full, Path(args.parent_history), args.parent_rank)
    space = full.select_groups(("quantization", "circuit"), defaults=parent)  # rNAS: architecture, device fixed
    parent_codes = space.encode({k: v for k, v in parent.items() if k in space.names})
    cpu = torch.device("cpu")
    hardware = HardwareMetricsCallback()

    # ptbNAS's parent: noise-aware training, then the fine-tune NACIM gives its top-K before rNAS
    spec = to_child(full, parent, input_shape=shape, num_classes=classes)
    pl.seed_everything(args.seed, workers=True, verbose=False)
    imc = child_imc_config(variation="train", seed=args.seed)  # the search's child layers (conf/imc/noise_aware.yaml)
    seconds = 0.0
    if parent_checkpoint is not None:
        weights = torch.load(parent_checkpoint, map_location="cpu", weights_only=True)
    elif args.parent_weights and Path(args.parent_weights).is_file():
        weights = torch.load(args.parent_weights, map_location="cpu", weights_only=True)
    else:
        module = ChildModule(spec, imc, OptimizerConfig(name="adam", lr=3e-3, scheduler="cosine"))
        seconds = train(module, datamodule, args.epochs)
        tuned = ChildModule(spec, imc, OptimizerConfig(name="adam", lr=1e-3, scheduler="cosine"))
        tuned.network.load_state_dict(module.network.state_dict())
        if args.finetune_epochs > 0:
            seconds += train(tuned, datamodule, args.finetune_epochs)
        weights = {k: v.detach().clone() for k, v in tuned.network.state_dict().items()}
        if args.parent_weights:
            torch.save(weights, args.parent_weights)
    loader = datamodule.test_dataloader()
    unlabelled = []
    for inputs, _ in datamodule.train_dataloader():
        unlabelled.append(inputs)
        if len(unlabelled) >= max(args.bn_batches, args.calib_batches):
            break
    bn_batches, calib_batches = unlabelled[:args.bn_batches], unlabelled[:args.calib_batches]

    bounds = estimate_reward_bounds(full.select_groups(("quantization", "circuit"), defaults=parent), to_child,
                                    shape, classes, hardware, n_samples=48, seed=args.seed)
    reward_config = RewardConfig(alpha=args.alpha, weights={"latency_s": 1.0, "energy_j": 1.0, "area_mm2": 1.0}).with_bounds(bounds)

    def judge(candidate, transfer: bool) -> dict:
        child = to_child(full, candidate, input_shape=shape, num_classes=classes)
        judged = ChildModule(child, imc, OptimizerConfig())
        judged.network.load_state_dict(weights)  # the parent's weights, re-quantized by the new formats
        judged.eval()
        if transfer and calib_batches:  # the least-error input range depends on the proposal's input bits
            calibrate_input_ranges(judged.network, calib_batches, variation=None)  # as the search does
        if transfer and args.bn_batches > 0:
            reestimate_batchnorm_under_variation(judged.network, bn_batches, seed=10_000 + args.seed,
                                                 chips_per_batch=args.bn_chips)
        figures = measure_on_chips(judged.network, child, loader, cpu, args.chips, seed=args.seed)
        _, _, report = hardware.evaluate_module(judged.network, child)
        hw = hardware_metrics(report)
        reward = compute_reward(figures["accuracy_variation"], hw, reward_config).reward
        return {"chips": figures["accuracy_variation"], "clean": figures["accuracy_clean"], "edp": hw["edp"],
                "area": hw["area_mm2"], "reward": reward, "layer_cost_shares": layer_cost_shares(report)}

    start = time.perf_counter()
    parent_raw = judge(parent, transfer=False)
    print(f"{data}: {args.train_samples} training images, parent {args.epochs}+{args.finetune_epochs} epochs "
          f"({seconds:.0f} s), {args.chips} chips on {args.eval_samples} images, {args.proposals} proposals, "
          f"share {args.share}, cost share {args.cost_share}, moves {args.moves}, input calibration {args.calib_batches} batches, BN re-estimation {args.bn_batches} batches, "
          f"alpha {args.alpha}", flush=True)
    print(f"parent as trained: clean {parent_raw['clean']:.4f}  chips {parent_raw['chips']:.4f}  "
          f"EDP {parent_raw['edp']:.3e} J·s  area {parent_raw['area']:.3f} mm²", flush=True)

    unit_weights = cost_unit_weights(space, parent_raw["layer_cost_shares"], args.cost_share)  # as the search does
    print("layer shares of the parent's chip cost: " + " ".join(f"{v:.2f}" for v in parent_raw["layer_cost_shares"]), flush=True)

    def hardware_efficiency(codes) -> float:  # the reward's hardware term F by the chip model alone
        candidate = full.canonical(dict(parent) | dict(space.decode(list(codes))))
        metrics = hardware.design_metrics(to_child(full, candidate, input_shape=shape, num_classes=classes))
        return compute_reward(0.0, metrics, reward_config).hardware_efficiency

    proposer = NeighbourhoodProposer(space, parent_codes, share=args.share, max_units=args.max_units, seed=args.seed,
                                     unit_weights=unit_weights, moves=args.moves, cost=hardware_efficiency)
    global_rng = random.Random(args.seed + 1)

    def uniform(n: int) -> list[list[int]]:
        return [[global_rng.randrange(c) for c in space.cardinalities] for _ in range(n)]

    told: list[tuple[list[int], float]] = []
    rows: list[dict] = []
    step = 0
    print(f"{'#':>3} {'units':>5} {'chips':>7} {'clean':>7} {'EDP J·s':>10} {'gain':>6} {'reward':>7}  changes", flush=True)
    while len(rows) < args.proposals:
        batch = proposer.ask(step, min(args.batch, args.proposals - len(rows)), told, uniform)
        for codes in batch:
            candidate = full.canonical(dict(parent) | dict(space.decode(codes)))
            r = judge(candidate, transfer=True)
            r.update(index=len(rows), units=changed_units(space, parent_codes, codes),
                     changes=changes(space, parent, candidate), local=True)
            rows.append(r)
            told.append((codes, r["reward"]))
            print(f"{r['index']:>3} {r['units']:>5} {r['chips']:7.4f} {r['clean']:7.4f} {r['edp']:10.3e} "
                  f"{parent_raw['edp'] / r['edp']:6.2f} {r['reward']:7.4f}  {r['changes']}", flush=True)
        step += 1
    # the parent's figure: the better of "as trained" and "through the same transfer step" (conservative)
    parent_chips = max(parent_raw["chips"], rows[0]["chips"])
    proposals = rows[1:]
    median = statistics.median(r["chips"] for r in proposals)
    within = [r for r in proposals if r["chips"] >= parent_chips - 0.01]
    best_gain = max([parent_raw["edp"] / r["edp"] for r in within], default=None)
    best = max(within, key=lambda r: parent_raw["edp"] / r["edp"], default=None)
    print(f"parent on chips {parent_chips:.4f}; median proposal {median:.4f}; {len(within)} of {len(proposals)} "
          f"within 1 point; best EDP gain among them {best_gain}"
          + (f" (#{best['index']}: {best['changes']})" if best else "") + f"; {time.perf_counter() - start:.0f} s")
    print(json.dumps({"median_proposal_gap_points": round(100 * (parent_chips - median), 2),
                      "best_edp_gain_within_1pt": None if best_gain is None else round(best_gain, 3)}))


if __name__ == "__main__":
    main()
