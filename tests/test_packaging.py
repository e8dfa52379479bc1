"""The built wheel installs the right top-level names and carries its migrations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from collector.core.storage.migrate import head_revision

REPO = Path(__file__).resolve().parents[1]
EXPECTED_TOP_LEVEL = {"collector", "detectors", "shadow", "alerts", "rightsize", "inferwatch"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from this checkout with the installed hatchling (no download of a build backend)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (built,) = out.glob("inferwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def scratch_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed; third-party dependencies are borrowed from ours.

    The borrowed path is added as a plain .pth entry, so the editable install's own .pth (which would put
    this checkout on sys.path) is not processed there.
    """
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    purelib = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (purelib / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return root


@pytest.mark.slow
def test_wheel_has_exactly_the_expected_top_level_names(wheel: Path) -> None:
    """collector, detectors, shadow, alerts, rightsize and inferwatch (the wire package): no proto, no tests."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == EXPECTED_TOP_LEVEL
    assert "inferwatch/v1/prediction_service_pb2.py" in names
    assert any(name.startswith("collector/_migrations/versions/") and name.endswith(".py") for name in names)
    assert "collector/_migrations/env.py" in names
    # The pages render from templates inside the package: an installed service serves them too.
    assert "collector/service/web/templates/base.html" in names
    # The native span scanner is built into the wheel (hatch_build.py), and the wheel is tagged for this platform.
    scanner = "collector/ingest/_span_scan" + sysconfig.get_config_var("EXT_SUFFIX")
    assert scanner in names
    assert not wheel.name.endswith("-none-any.whl")


@pytest.mark.slow
def test_installed_wheel_runs_db_upgrade(scratch_venv: Path, tmp_path: Path) -> None:
    """`inferwatch db upgrade` from the installed wheel migrates a fresh SQLite file to head."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INFERWATCH_")}
    db = tmp_path / "fresh.db"
    result = subprocess.run(
        [str(scratch_venv / "bin" / "inferwatch"), "db", "upgrade", "--db-url", f"sqlite:///{db}", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["revision"] == head_revision()
    where = subprocess.run(
        [
            str(scratch_venv / "bin" / "python"),
            "-c",
            "import collector, inferwatch.v1.common_pb2 as c, collector.ingest._span_scan as s; "
            "print(collector.__file__); print(c.__file__); print(s.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(scratch_venv)) for path in where), where
