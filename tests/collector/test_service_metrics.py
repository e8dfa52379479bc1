"""The README documents every metric the service exposes about itself."""

from __future__ import annotations

from pathlib import Path

from collector.core.metrics import ServiceMetrics


def test_every_service_metric_is_in_the_readme_table() -> None:
    """Each metric of ServiceMetrics has a row (its exposed name: counters end in _total) with its type."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### The service's own metrics")[1].split("\n## ")[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in section.splitlines()
        if line.startswith("| `")
    }
    exposed = {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in ServiceMetrics().registry.collect()
    }
    assert rows == exposed
