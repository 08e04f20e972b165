"""Chip model III is the default for new searches; histories written before it resume with chip model II and
keep the chip costs they recorded (issue 27)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_imc.callbacks import HardwareMetricsCallback
from lightning_imc.hardware import ChipConfig
from lightning_imc.search.history import HistoryStore
from lightning_imc.search.loop import search_fingerprint, settings_of_older_history
from lightning_imc.space import get_space, to_child

ROOT = Path(__file__).resolve().parents[1]
#: A history kept in git, written before chip model III existed (the noise sweep, issue 24).
OLD_HISTORY = ROOT / "experiments" / "noise_sweep" / "absolute" / "seed0" / "quantnas" / "history.sqlite"


def test_new_searches_use_chip_model_iii_and_the_key_is_checked(tmp_path):
    from hydra import compose, initialize_config_dir

    from lightning_imc.settings import ConfigError, load_settings

    from omegaconf import OmegaConf

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"paths.output_dir={tmp_path}", "logger=none", *overrides])
        return OmegaConf.to_container(cfg, resolve=True)

    assert load_settings(_compose()).hardware.chip.chip_model == "III"
    assert load_settings(_compose("hardware.chip_model=II")).hardware.chip.chip_model == "II"
    assert load_settings(_compose("hardware=nacim_optimized")).hardware.chip.chip_model == "III"
    with pytest.raises(ConfigError, match=r"hardware.chip_model='IV'; allowed: \['II', 'III'\]"):
        load_settings(_compose("hardware.chip_model=IV"))
    with pytest.raises(ConfigError, match="give the chip model as hardware.chip_model"):
        load_settings(_compose("+hardware.chip.chip_model=II"))


def test_chip_model_ii_is_left_out_of_the_fingerprint_as_before_it_existed():
    base = {"hardware": {"preset": "nacim", "chip": {}}, "search": {"mode": "nacim"}}
    with_ii = {"hardware": {"preset": "nacim", "chip": {}, "chip_model": "II"}, "search": {"mode": "nacim"}}
    with_iii = {"hardware": {"preset": "nacim", "chip": {}, "chip_model": "III"}, "search": {"mode": "nacim"}}
    assert search_fingerprint(with_ii) == search_fingerprint(base)
    assert search_fingerprint(with_iii)["hardware"]["chip_model"] == "III"
    assert settings_of_older_history(search_fingerprint(base), with_iii) == {"hardware.chip_model": "II"}
    assert settings_of_older_history(search_fingerprint(with_iii), with_iii) == {}


@pytest.mark.skipif(not OLD_HISTORY.is_file(), reason="the noise sweep's history is not in this checkout")
def test_a_history_written_before_chip_model_iii_resumes_with_the_chip_costs_it_recorded():
    """Every finished child of a history written under chip model II is charged exactly what it recorded
    when its chip is evaluated again with the model the resumed search will use; model III charges it
    otherwise (so a resumed search under III would have mixed two models in one reward)."""
    with HistoryStore.open_readonly(str(OLD_HISTORY)) as store:
        assert "chip_model" not in store.fingerprint["hardware"]
        keep = settings_of_older_history(store.fingerprint, {"hardware": {"chip_model": "III"}})
        records = [r for r in store.records() if r.ok]
    assert keep == {"hardware.chip_model": "II"} and len(records) >= 5
    full = get_space("rls")
    models = {m: HardwareMetricsCallback(ChipConfig.nacim(chip_model=m)) for m in ("II", "III")}
    for k, record in enumerate(records):
        candidate = full.canonical(dict(full.default_candidate()) | dict(record.choices))
        spec = to_child(full, candidate, input_shape=(1, 28, 28), num_classes=10)
        again = models[keep["hardware.chip_model"]].design_metrics(spec)
        for key in ("area_mm2", "latency_s", "energy_j"):
            assert again[key] == pytest.approx(record.metrics["hardware"][key], rel=1e-12), key
        if k == 0:
            assert models["III"].design_metrics(spec)["area_mm2"] != pytest.approx(record.metrics["hardware"]["area_mm2"])


@pytest.mark.parametrize("chip_model,feature", [("III", "node"), ("II", "metal")])
def test_the_chip_models_default_cell_feature_is_the_same_chip_as_naming_it(chip_model, feature):
    """``cell_feature=None`` is the chip model's own choice: the same chip as naming it, every figure equal."""
    from lightning_imc.hardware import evaluate, random_rls_network

    for seed in range(3):
        net = random_rls_network(seed)
        for device in ("rram_nacim", "sram"):
            implied = evaluate(net, device, ChipConfig.nacim(chip_model=chip_model))
            named = evaluate(net, device, ChipConfig.nacim(chip_model=chip_model, cell_feature=feature))
            assert (implied.area_mm2, implied.latency_s, implied.energy_j) == (named.area_mm2, named.latency_s, named.energy_j)
