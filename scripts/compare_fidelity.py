"""Compare a full-fidelity search with a multi-fidelity one: best accuracy on chips (with its 95% CI) and
child-epochs spent, read from the two histories.

    python -m uv run python train.py +experiment=quickstart logger=none experiment_name=qs_full
    python -m uv run python train.py +experiment=quickstart logger=none experiment_name=qs_mf \\
        'search.fidelity={rungs: [2, 8], eta: 6}'
    python -m uv run python scripts/compare_fidelity.py outputs/qs_full/search-nacim-seed0 \\
        outputs/qs_mf/search-nacim-seed0

The last line is one JSON object: ``{"full_best_accuracy_variation", "full_ci95", "full_child_epochs",
"mf_best_accuracy_variation", "mf_ci95", "mf_child_epochs", "child_epochs_ratio",
"mf_within_full_ci"}`` (``mf_within_full_ci``: the multi-fidelity best is at least the lower end of
the full-fidelity best's 95% CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_imc.search.fidelity import child_epochs  # noqa: E402
from lightning_imc.search.history import HistoryStore  # noqa: E402


def best(folder: str) -> tuple[float, list[float], int, str]:
    """Best accuracy on chips, its 95% CI, the child-epochs and the record's phase."""
    with HistoryStore.open_readonly(Path(folder) / "history.sqlite") as store:
        records = store.records()
    ok = [r for r in records if r.status == "ok" and "accuracy_variation" in r.metrics]
    top = max(ok, key=lambda r: r.metrics["accuracy_variation"])
    return (top.metrics["accuracy_variation"], list(top.metrics.get("accuracy_variation_ci95", [None, None])),
            child_epochs(records), top.phase)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("full")
    parser.add_argument("multi_fidelity")
    args = parser.parse_args()
    full, full_ci, full_epochs, full_phase = best(args.full)
    mf, mf_ci, mf_epochs, mf_phase = best(args.multi_fidelity)
    print(f"full fidelity:  best accuracy on chips {100 * full:.2f}% (95% CI {100 * full_ci[0]:.2f}-"
          f"{100 * full_ci[1]:.2f}, {full_phase}), {full_epochs} child-epochs")
    print(f"multi-fidelity: best accuracy on chips {100 * mf:.2f}% (95% CI {100 * mf_ci[0]:.2f}-"
          f"{100 * mf_ci[1]:.2f}, {mf_phase}), {mf_epochs} child-epochs")
    print(json.dumps({"full_best_accuracy_variation": full, "full_ci95": full_ci, "full_child_epochs": full_epochs,
                      "mf_best_accuracy_variation": mf, "mf_ci95": mf_ci, "mf_child_epochs": mf_epochs,
                      "child_epochs_ratio": mf_epochs / full_epochs, "mf_within_full_ci": mf >= full_ci[0]}))


if __name__ == "__main__":
    main()
