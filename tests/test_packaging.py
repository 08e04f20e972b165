"""The library floors stand alone: the layers and the chip model import and run without the application's
packages (what a base ``pip install lightning-imc`` gives: torch, NumPy, SciPy)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

APPLICATION_PACKAGES = ("lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "hydra", "omegaconf",
                        "wandb", "torchvision", "sklearn", "matplotlib", "rich", "optuna", "moocore", "ray")
"""Top-level packages of the ``search``/``ray`` extras; none may be imported by ``layers`` or ``hardware``."""

_BLOCKED_IMPORT_PROGRAM = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name} (an application package, not a base dependency)")
            return None

    sys.meta_path.insert(0, Blocker())

    import torch
    from lightning_imc.layers import IMCConfig, IMCLinear, convert_to_imc
    from lightning_imc.hardware import ChipConfig, Network, evaluate

    model = convert_to_imc(torch.nn.Sequential(torch.nn.Linear(8, 4)), IMCConfig(device="rram_nacim", variation="train"))
    assert isinstance(model[0], IMCLinear), type(model[0])
    assert model(torch.randn(2, 8)).shape == (2, 4)
    report = evaluate(Network.vgg8(), "rram_vgg8", ChipConfig.neurosim_vgg8())
    assert report.area_mm2 > 0
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print("ok", round(report.area_mm2, 1))
    """
)


def run_with_application_blocked(code: str, blocked: tuple[str, ...] = APPLICATION_PACKAGES) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where importing any of ``blocked`` raises ImportError."""
    return subprocess.run([sys.executable, "-c", code, ",".join(blocked)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_layers_and_hardware_import_and_run_without_the_application_packages() -> None:
    result = run_with_application_blocked(_BLOCKED_IMPORT_PROGRAM)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok ")


def test_the_blocker_does_block() -> None:
    """The check above can fail: importing the application under the same blocker does."""
    program = _BLOCKED_IMPORT_PROGRAM.split("import torch")[0] + "import lightning_imc.models\n"
    result = run_with_application_blocked(program)
    assert result.returncode != 0
    assert "blocked: pytorch_lightning" in result.stderr


@pytest.mark.parametrize("extra", ["search", "ray", "all"])
def test_extras_are_declared(extra: str) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(d.split(">")[0].split("[")[0] for d in project["dependencies"]) == {"torch", "numpy", "scipy"}
    assert extra in project["optional-dependencies"]
