"""The conversion scripts' smallest budgets: ``bench_convert.py`` on its smallest model, and the
controlled comparison of learned input ranges on one seed."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _bench_convert():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench_convert
    finally:
        sys.path.remove(str(SCRIPTS))
    return bench_convert


def test_bench_convert_trains_and_converts_bert_faithfully():
    """A briefly trained BERT (synthetic 3-class tokens) converts at 8 bits with a cosine ≥ 0.99 either
    way, nothing is silently skipped, and the per-read ranges cost chip energy."""
    bench_convert = _bench_convert()
    warnings.simplefilter("ignore", UserWarning)
    model, calib, test, accuracy = bench_convert._trained("bert", None, seed=0)
    assert accuracy > 0.9  # the task was learned
    result = bench_convert._fidelity(model, calib, test)
    assert result["cosine"] >= 0.99 and result["calibrated"] >= 0.99
    assert result["skipped"] == [] and set(result["report"].digital) and result["energy_ratio"] > 1.0


def test_bench_convert_counts_the_macs_of_a_recurrent_model_and_skips_nothing_silently():
    """Embedding + GRU: the GRU stays digital but is reported, and the chip model counts its MACs as
    torch does (ratio 1); an unrouted weight use would count as silently skipped."""
    import torch

    bench_convert = _bench_convert()
    warnings.simplefilter("ignore", UserWarning)
    torch.manual_seed(0)
    model = bench_convert._build("gru").eval()
    calib = [torch.randint(0, bench_convert.VOCAB, (16, bench_convert.LENGTH)) for _ in range(2)]
    result = bench_convert._fidelity(model, calib, calib[0])
    assert result["skipped"] == [] and "rnn" in result["report"].digital and result["macs_seen"] == 1.0
    assert result["cosine"] >= 0.99


def test_bench_vs_aihwkit_lightning_skips_with_a_message_when_it_cannot_install(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench_vs_aihwkit_lightning as bench
    finally:
        sys.path.remove(str(SCRIPTS))
    monkeypatch.setattr(bench, "_installers", lambda target: [[sys.executable, "-c", "raise SystemExit('offline')"]])
    monkeypatch.setattr(bench.importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
    assert bench.main(["--aihwkit-dir", str(tmp_path / "none")]) is None
    out = capsys.readouterr().out
    assert out.startswith("skipped: AIHWKit-Lightning 2.1.0 is not available (could not install") and "offline" in out


def test_bench_convert_refuses_an_unknown_model():
    bench_convert = _bench_convert()
    assert bench_convert.parse_models(" bert,gpt2 ") == ["bert", "gpt2"]
    with pytest.raises(ValueError, match=r"unknown \['resnet99'\]; allowed: resnet18, mobilenet_v3_small"):
        bench_convert.parse_models("resnet18,resnet99")


@pytest.mark.timeout(300)
def test_compare_input_range_learning_on_one_seed():
    done = subprocess.run([sys.executable, str(SCRIPTS / "compare_input_range_learning.py"), "--seeds", "1", "--bits", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0.8 < result["chip_accuracy_moving_average"] <= 1 and 0.8 < result["chip_accuracy_learned"] <= 1
    assert result["difference_points"] == pytest.approx(
        100 * (result["chip_accuracy_learned"] - result["chip_accuracy_moving_average"]), abs=0.02)
    assert result["difference_ci95_points"] is None  # one seed: no interval


def test_bench_vs_aihwkit_lightning_smallest_budget_ends_with_its_two_ratios(capsys):
    """One interleaved round of each model: the last line is one JSON object with exactly the issue's two
    keys, each a positive finite ratio; without AIHWKit-Lightning (no registry) the script says why."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench_vs_aihwkit_lightning as bench
    finally:
        sys.path.remove(str(SCRIPTS))
    warnings.simplefilter("ignore", UserWarning)
    final = bench.main(["--rounds", "1", "--steps", "1", "--warmup", "11"])
    lines = capsys.readouterr().out.strip().splitlines()
    if final is None:
        assert lines[-1].startswith("skipped: AIHWKit-Lightning") and "no figures" in lines[-1]
        pytest.skip(lines[-1])
    assert json.loads(lines[-1]) == final
    assert set(final) == {"imc_over_aihwkit_lightning_linear", "imc_over_aihwkit_lightning_conv"}
    assert all(0.0 < ratio < 100.0 for ratio in final.values())
    assert lines[-2].startswith("details: ")
