"""The dependency rules of DESIGN.md, checked on the source: which part of inferwatch may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FEATURE_PACKAGES = ("detectors", "alerts", "shadow", "rightsize")
COLLECTOR_PARTS = ("core", "ingest", "service", "cli")
# What each part may import of inferwatch, as prefixes of dotted module names ("collector" itself is the
# package's __version__, which every part may read).
ALLOWED: dict[str, tuple[str, ...]] = {
    "collector/core": ("collector.core", "inferwatch.v1"),
    "collector/ingest": ("collector.core", "collector.ingest", "inferwatch.v1"),
    "detectors": ("collector.core", "detectors", "inferwatch.v1"),
    "alerts": ("collector.core", "alerts", "inferwatch.v1"),
    "shadow": ("collector.core", "shadow", "inferwatch.v1"),
    # Right-sizing reads rollups and shadow measurements from the kernel's tables, never through detectors
    # or shadow: the composition root hands it the SLOs and prices it needs.
    "rightsize": ("collector.core", "rightsize", "inferwatch.v1"),
}
INFERWATCH_ROOTS = {"collector", *FEATURE_PACKAGES, "inferwatch"}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, as dotted names (``from a import b`` also counts ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(folder: str, root: Path = REPO) -> list[str]:
    """Imports of inferwatch modules from ``folder`` (under ``root``) that its rule does not allow."""
    allowed = ALLOWED[folder]
    offenders = []
    for path in sorted((root / folder).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            top = name.split(".")[0]
            if top not in INFERWATCH_ROOTS or name == "collector":
                continue
            if top == "collector" and name.split(".")[1] not in COLLECTOR_PARTS:
                # `from collector import __version__` and the like: the package root itself.
                continue
            if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed):
                offenders.append(f"{path.relative_to(root)} imports {name}")
    return offenders


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_part_imports_only_what_its_rule_allows(folder: str) -> None:
    """core imports nothing else of inferwatch; ingest only core; detectors, alerts, shadow, rightsize only core."""
    assert violations(folder) == []


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """A kernel module that imported the service shell would be reported (the check is not vacuous)."""
    probe = tmp_path / "collector" / "core" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from collector.service.app import Service\nfrom detectors.rollups import RollupJob\n")
    assert violations("collector/core", root=tmp_path) == [
        "collector/core/probe.py imports collector.service.app",
        "collector/core/probe.py imports collector.service.app.Service",
        "collector/core/probe.py imports detectors.rollups",
        "collector/core/probe.py imports detectors.rollups.RollupJob",
    ]


def test_collector_has_exactly_its_four_parts() -> None:
    """Every module of collector lives in one of core, ingest, service and cli (the package root aside)."""
    loose = sorted(path.name for path in (REPO / "collector").glob("*.py") if path.name != "__init__.py")
    assert loose == []
    assert {path.name for path in (REPO / "collector").iterdir() if (path / "__init__.py").exists()} == set(
        COLLECTOR_PARTS
    )


def test_only_shadow_imports_onnxruntime() -> None:
    """The heavy optional runtime stays behind one gate."""
    offenders = [
        str(path.relative_to(REPO))
        for package in ("collector", "detectors", "alerts", "rightsize")
        for path in (REPO / package).rglob("*.py")
        if any(name.split(".")[0] == "onnxruntime" for name in imported_modules(path))
    ]
    assert not offenders


def _module_level_imports(path: Path) -> set[str]:
    """The top-level names a file imports when it is loaded (not inside functions or classes)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_shadow_imports_ray_and_only_when_a_run_asks_for_it() -> None:
    """Ray is an optional extra: no other package imports it, and no shadow module loads it at import time."""
    elsewhere = [
        str(path.relative_to(REPO))
        for package in ("collector", "detectors", "alerts")
        for path in (REPO / package).rglob("*.py")
        if any(name.split(".")[0] == "ray" for name in imported_modules(path))
    ]
    eager = [
        str(path.relative_to(REPO)) for path in (REPO / "shadow").rglob("*.py") if "ray" in _module_level_imports(path)
    ]
    assert (elsewhere, eager) == ([], [])
    # The rule is not vacuous: the executor does import it, inside its functions.
    assert "ray" in {name.split(".")[0] for name in imported_modules(REPO / "shadow" / "cluster.py")}
