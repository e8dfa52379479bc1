"""The dependency rule of DESIGN.md, checked on the source: the kernel imports none of the other packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FEATURE_PACKAGES = ("detectors", "alerts", "shadow")
# Only the composition root and the CLI may import everything.
COMPOSITION = {"collector/app.py", "collector/cli.py", "collector/cli_reports.py"}


def imported_top_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, as dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def package_files(package: str) -> list[Path]:
    """The Python files of one top-level package."""
    return sorted((REPO / package).rglob("*.py"))


def test_kernel_imports_no_feature_package() -> None:
    """collector (but for app.py and cli.py) never imports detectors, alerts or shadow."""
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in package_files("collector")
        if str(path.relative_to(REPO)) not in COMPOSITION
        for name in imported_top_modules(path)
        if name.split(".")[0] in FEATURE_PACKAGES
    ]
    assert not offenders


@pytest.mark.parametrize("package", FEATURE_PACKAGES)
def test_feature_packages_import_only_the_kernel(package: str) -> None:
    """detectors, alerts and shadow import the kernel, never each other nor the composition root."""
    forbidden_roots = set(FEATURE_PACKAGES) - {package}
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in package_files(package)
        for name in imported_top_modules(path)
        if name.split(".")[0] in forbidden_roots or name in {"collector.app", "collector.cli"}
    ]
    assert not offenders


def test_only_shadow_imports_onnxruntime() -> None:
    """The heavy optional runtime stays behind one gate."""
    offenders = [
        str(path.relative_to(REPO))
        for package in ("collector", "detectors", "alerts")
        for path in package_files(package)
        if any(name.split(".")[0] == "onnxruntime" for name in imported_top_modules(path))
    ]
    assert not offenders
