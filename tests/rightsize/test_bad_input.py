"""Each missing input of right-sizing is named with how to add it, and the command exits 2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.cli.commands import EXIT_USAGE, main
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from tests.rightsize.planting import CPU_BASELINE, MODEL, T4_FP16, curve, measured, plant_shadow_run, plant_traffic

SLO = "[slo.fraud]\nlatency_threshold_ms = 100\nlatency_target = 0.99\n"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database: these refusals run the same queries on both backends, and the one test below
    that names every missing input at once runs on PostgreSQL too."""
    url = f"sqlite:///{tmp_path / 'inferwatch.db'}"
    upgrade(url)
    return url


def plant(db_url: str, *, hours: float, shadow: bool = True, unpriced: bool = False) -> None:
    """``hours`` of planted traffic up to now, and (unless not) a shadow run on cpu and T4 (or an unpriced class)."""
    now = int(datetime.now(tz=UTC).timestamp()) // 60 * 60
    engine = create_engine_for(db_url)
    try:
        plant_traffic(engine, now - int(hours * 3600), now)
        if unpriced:
            plant_shadow_run(engine, [measured("baseline", "CPUExecutionProvider", "my-tpu", curve((1, 5, 6)), None)])
        elif shadow:
            plant_shadow_run(engine, [CPU_BASELINE, T4_FP16])
    finally:
        engine.dispose()


def rightsize(db_url: str, tmp_path: Path, config: str, *extra: str) -> int:
    path = tmp_path / "inferwatch.toml"
    path.write_text(config)
    return main(["rightsize", "--model", MODEL, "--db-url", db_url, "--config", str(path), *extra])


def test_no_slo_names_the_section_to_add(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without [slo.fraud] latency_threshold_ms there is nothing to size against."""
    plant(sqlite_url, hours=3)
    assert rightsize(sqlite_url, tmp_path, "[slo.fraud]\navailability_target = 0.999\n") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no latency SLO for fraud" in err
    assert "[slo.fraud]" in err
    assert "latency_threshold_ms" in err


def test_too_little_traffic_says_how_much_there_was(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twenty minutes of traffic is less than the hour of minutes right-sizing needs."""
    plant(sqlite_url, hours=1 / 3)
    assert rightsize(sqlite_url, tmp_path, SLO) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "too little traffic for fraud" in err
    assert "20 minutes with traffic" in err
    assert "--since" in err


def test_no_traffic_at_all_is_too_little(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model nobody called: zero requests, named."""
    assert rightsize(sqlite_url, tmp_path, SLO) == EXIT_USAGE
    assert "too little traffic for fraud since" in capsys.readouterr().err


def test_no_measurements_says_which_shadow_run_to_start(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Traffic and an SLO but no shadow run: the command to run is in the message."""
    plant(sqlite_url, hours=3, shadow=False)
    assert rightsize(sqlite_url, tmp_path, SLO, "--version", "v1") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no shadow measurements of fraud version v1" in err
    assert "inferwatch shadow run --model fraud --version v1" in err


def test_a_failed_shadow_run_is_not_a_measurement(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only succeeded runs count."""
    plant(sqlite_url, hours=3, shadow=False)
    engine = create_engine_for(sqlite_url)
    try:
        plant_shadow_run(engine, [CPU_BASELINE], state="failed")
    finally:
        engine.dispose()
    assert rightsize(sqlite_url, tmp_path, SLO) == EXIT_USAGE
    assert "no shadow measurements of fraud" in capsys.readouterr().err


def test_no_price_for_what_was_measured_names_the_class(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measured only on a class without a price: the [pricing.hardware] line to add names it."""
    plant(sqlite_url, hours=3, unpriced=True)
    assert rightsize(sqlite_url, tmp_path, SLO) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no price for the measured hardware class(es) my-tpu" in err
    assert "[pricing.hardware]" in err
    assert "my-tpu = <$ per hour>" in err


def test_every_missing_input_is_named_at_once(
    migrated_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No SLO, no traffic and no measurements: one message lists all three, so one edit round fixes them."""
    assert rightsize(migrated_db_url, tmp_path, "") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no latency SLO" in err
    assert "too little traffic" in err
    assert "no shadow measurements" in err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--headroom", "1.5"], "--headroom"),
        (["--replicas", "0"], "--replicas"),
        (["--since", "yesterday"], "--since"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    flags: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse refuses them before the database is opened."""
    with pytest.raises(SystemExit) as stop:
        main(["rightsize", "--model", MODEL, *flags])
    assert stop.value.code == EXIT_USAGE
    assert named in capsys.readouterr().err


def test_a_bad_rightsize_section_exits_2(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in [rightsize] is named, as serve would name it."""
    assert rightsize(sqlite_url, tmp_path, "[rightsize]\nheadrom = 0.2\n") == EXIT_USAGE
    assert "headrom" in capsys.readouterr().err


def test_a_future_since_is_bad_usage(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A window that starts tomorrow has nothing in it."""
    tomorrow = (datetime.now(tz=UTC) + timedelta(days=1)).isoformat()
    assert rightsize(sqlite_url, tmp_path, SLO, "--since", tomorrow) == EXIT_USAGE
    assert "`since` must be before now" in capsys.readouterr().err
