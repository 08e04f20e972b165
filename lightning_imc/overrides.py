"""A misspelt config group or key on the command line: the nearest real one instead of Hydra's advice.

For ``optimiser=sgd`` Hydra answers "Could not override 'optimiser' ... To append to your config use
+optimiser=sgd": adding the key is the wrong fix. :func:`explain_override_error` reads the group names,
their packages (``# @package imc``) and the keys of each group's default option straight from the
``conf/`` folder (plain YAML, nothing composed) and names the nearest group or key. Light: PyYAML and
the standard library only, so that ``train.py`` answers at once.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["ConfigIndex", "explain_override_error"]

_COULD_NOT_OVERRIDE = re.compile(r"Could not override '([^']+)'")


class ConfigIndex:
    """The groups, their options and packages, and every dotted key of the default composition of ``conf_dir``."""

    def __init__(self, conf_dir: str | Path, primary: str = "config.yaml"):
        root = Path(conf_dir)
        self.groups: dict[str, list[str]] = {
            d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in sorted(root.iterdir()) if d.is_dir()}
        self.packages = {group: self._package(root / group) or group for group in self.groups}
        config = _load(root / primary)
        self.keys: set[str] = set()
        for entry in config.pop("defaults", []) or []:
            if isinstance(entry, Mapping):
                for group, option in entry.items():
                    path = root / str(group) / f"{option}.yaml"
                    if path.is_file():
                        loaded = _load(path)
                        package = self.packages.get(str(group), str(group))
                        prefix = "" if package == "_global_" else package
                        self.keys.update(_paths(loaded, prefix))
        config.pop("hydra", None)
        self.keys.update(_paths(config, ""))
        self.top = sorted({key.split(".", 1)[0] for key in self.keys} | set(self.groups))

    @staticmethod
    def _package(folder: Path) -> str | None:
        for path in sorted(folder.glob("*.yaml")):
            for line in path.read_text(errors="replace").splitlines()[:3]:
                match = re.match(r"#\s*@package\s+(\S+)", line)
                if match:
                    return match.group(1)
        return None

    def suggest(self, key: str, value: str | None) -> str | None:
        """One line for the unknown ``key`` (given ``=value`` on the command line), or ``None`` when nothing is near."""
        shown = "" if value is None else f"={value}"
        if "." not in key:
            match = _nearest(key, self.top)
            if match is None:
                return None
            if match in self.groups:
                options = ", ".join(self.groups[match])
                return (f"{key} is not a config group or key; did you mean the group {match}? "
                        f"({match}{shown}; options: {options})")
            return f"{key} is not a config key; did you mean {match}? ({match}{shown})"
        first, rest = key.split(".", 1)
        group = first if first in self.groups else _nearest(first, list(self.groups))
        if group is not None and self.packages.get(group) not in (group, "_global_"):
            target = f"{self.packages[group]}.{rest}"
            if target in self.keys:
                return (f"{key} is not a key: the {group} group writes into {self.packages[group]}; did you mean "
                        f"{target}{shown} (or {group}=<option>, options: {', '.join(self.groups[group])})?")
        match = _nearest(key, sorted(self.keys))
        if match is None:
            return None
        return f"{key} is not a config key; did you mean {match}? ({match}{shown})"


def _load(path: Path) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(path.read_text())
    return loaded if isinstance(loaded, dict) else {}


def _paths(node: Any, prefix: str) -> Iterable[str]:
    if isinstance(node, Mapping):
        for name, child in node.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            yield path
            yield from _paths(child, path)


def _nearest(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def explain_override_error(text: str, argv: Sequence[str], conf_dir: str | Path) -> str | None:
    """The line to print instead of Hydra's ``text`` when it refused an override of an unknown key, naming the
    nearest real group or key; ``None`` when ``text`` is another error or nothing is near.

    >>> conf = Path(__file__).resolve().parents[1] / "conf"
    >>> explain_override_error("Could not override 'optimiser'.", ["optimiser=sgd"], conf)
    'config error: optimiser is not a config group or key; did you mean the group optimizer? (optimizer=sgd; options: adam, sgd)'
    """
    match = _COULD_NOT_OVERRIDE.search(text)
    if match is None or not Path(conf_dir).is_dir():
        return None
    key = match.group(1)
    value = None
    for arg in argv:
        name, sep, given = arg.lstrip("~+").partition("=")
        if sep and name == key:
            value = given
    try:
        line = ConfigIndex(conf_dir).suggest(key, value)
    except Exception:  # noqa: BLE001 - a help message must never hide Hydra's own
        return None
    return None if line is None else f"config error: {line}"
