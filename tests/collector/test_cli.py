"""The `inferwatch` command line: help that helps, JSON output, configuration errors, db commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli.commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, build_parser, main
from collector.core.storage.migrate import head_revision

SUBCOMMANDS = [
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "current"],
    ["config"],
    ["config", "show"],
    ["findings"],
    ["findings", "list"],
    ["models", "register"],
    ["models", "list"],
    ["shadow", "run"],
    ["rightsize"],
]


def test_top_level_help_describes_the_service_and_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """`inferwatch --help` says what inferwatch is and names every command."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "watches machine-learning models in production" in out
    for command in ("serve", "db", "config"):
        assert command in out


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_its_own_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Each subcommand's --help exits 0 and has a description beyond the usage line."""
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: inferwatch " + " ".join(command))
    assert len(out.splitlines()) > 4


def test_serve_help_lists_every_flag_with_its_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`serve --help` documents each flag and the INFERWATCH_* variable behind it."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag, env in (
        ("--db-url", "INFERWATCH_DB_URL"),
        ("--grpc-addr", "INFERWATCH_GRPC_ADDR"),
        ("--http-addr", "INFERWATCH_HTTP_ADDR"),
        ("--config", "INFERWATCH_CONFIG"),
    ):
        assert flag in out
        assert env in out


def test_bad_config_value_exits_2_naming_key_source_and_value(capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid flag value stops the command before anything starts, naming what was wrong."""
    assert main(["serve", "--grpc-addr", "localhost"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "server.grpc_addr" in err
    assert "flag --grpc-addr" in err
    assert "'localhost'" in err


def test_db_upgrade_then_current_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`db upgrade --json` and `db current --json` print one JSON document each, at head."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "current", "--db-url", url, "--json"]) == EXIT_FAILED
    before = json.loads(capsys.readouterr().out)
    assert before["revision"] is None
    assert before["at_head"] is False
    assert main(["db", "upgrade", "--db-url", url, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["revision"] == head_revision()
    assert main(["db", "current", "--db-url", url, "--json"]) == EXIT_OK
    after = json.loads(capsys.readouterr().out)
    assert after == {"database": url, "revision": head_revision(), "head": head_revision(), "at_head": True}
    assert main(["db", "downgrade", "base", "--db-url", url, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["revision"] is None


def test_db_upgrade_against_unreachable_postgres_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database that is down gives exit 1 and a one-line error, not a traceback."""
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"
    assert main(["db", "upgrade", "--db-url", url]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("inferwatch: database error: OperationalError")
    assert "Traceback" not in err


def test_config_show_json_redacts_tokens_and_names_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`config show --json` reports each value's source and never prints a token."""
    (tmp_path / "inferwatch.toml").write_text('[server]\nhttp_addr = "127.0.0.1:9999"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFERWATCH_ADMIN_TOKENS", "s3cret-admin")
    assert main(["config", "show", "--json", "--grpc-addr", "0.0.0.0:4317"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "s3cret-admin" not in out
    rows = {row["key"]: row for row in json.loads(out)["settings"]}
    assert rows["server.grpc_addr"]["source"] == "flag --grpc-addr"
    assert rows["server.http_addr"] == {
        "key": "server.http_addr",
        "env": "INFERWATCH_HTTP_ADDR",
        "value": "127.0.0.1:9999",
        "source": f"file {tmp_path / 'inferwatch.toml'}",
    }
    assert rows["auth.admin_tokens"]["value"] == "<1 redacted>"
    assert rows["auth.admin_tokens"]["source"] == "env INFERWATCH_ADMIN_TOKENS"
    assert rows["storage.db_url"]["source"] == "default"


def test_parser_requires_a_command() -> None:
    """Running `inferwatch` with no command is a usage error, not a silent no-op."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([])
    assert exited.value.code == 2


def test_database_commands_name_their_database_and_refuse_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`findings list` on a path with no database says so, names it, and creates nothing; on an unmigrated one it
    says to upgrade; on a migrated one it says on stderr which configuration and database it used."""
    missing = tmp_path / "nowhere.db"
    assert main(["findings", "list", "--db-url", f"sqlite:///{missing}"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"no database at {missing}" in err
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main(["cost", "report", "--db-url", f"sqlite:///{empty}"]) == EXIT_FAILED
    assert "has no inferwatch schema: run `inferwatch db upgrade" in capsys.readouterr().err
    ready = tmp_path / "ready.db"
    assert main(["db", "upgrade", "--db-url", f"sqlite:///{ready}"]) == EXIT_OK
    capsys.readouterr()
    assert main(["alerts", "list", "--db-url", f"sqlite:///{ready}", "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"inferwatch: no configuration file; database sqlite:///{ready}"]
    assert json.loads(captured.out) is not None


def test_cost_report_warns_when_there_are_no_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without [pricing] the cost report says what that means instead of quietly pricing LLMs by busy time."""
    db = tmp_path / "ready.db"
    assert main(["db", "upgrade", "--db-url", f"sqlite:///{db}"]) == EXIT_OK
    capsys.readouterr()
    assert main(["cost", "report", "--db-url", f"sqlite:///{db}"]) == EXIT_OK
    assert "inferwatch: warning: [pricing] is empty (no configuration file was read)" in capsys.readouterr().err
    config = tmp_path / "inferwatch.toml"
    config.write_text('[pricing.tokens."gpt-4o"]\ninput_per_million = 2.5\noutput_per_million = 10.0\n')
    assert main(["cost", "report", "--db-url", f"sqlite:///{db}", "--config", str(config)]) == EXIT_OK
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[alert]\nroute = 1\n", "unknown section [alert]"),
        ("[shadow]\nmin_agrement = 0.9\n", "(known: confidence, early_stop"),
        ("[drift]\nwindow_seconds = 60\n", "[drift] has unknown key(s): window_seconds (known:"),
        ("[slo.fraud]\nlatency_target = 2\n", "[slo.fraud]"),
        ('[alerts.route]\nreceiver = "pager"\n[alerts.receivers.pager]\ntype = "pagerduty"\n', "known types:"),
    ],
)
def test_config_show_rejects_what_serve_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, message: str
) -> None:
    """Every feature section is checked by the same code as `serve`: a typo is exit 2 naming what is known."""
    config = tmp_path / "inferwatch.toml"
    config.write_text(toml)
    assert main(["config", "show", "--config", str(config)]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_config_show_prints_every_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`config show --json` carries every feature section with its defaults; receivers by name and type only."""
    config = tmp_path / "inferwatch.toml"
    config.write_text(
        "[slo.fraud]\navailability_target = 0.999\n"
        '[alerts.route]\nreceiver = "chat"\n'
        '[alerts.receivers.chat]\ntype = "slack"\nurl = "https://hooks.slack.com/services/T000/B000/secret-token"\n'
    )
    assert main(["config", "show", "--config", str(config), "--json"]) == EXIT_OK
    out = capsys.readouterr().out
    sections = json.loads(out)["sections"]
    assert set(sections) == {"slo", "drift", "alerts", "pricing", "shadow", "rightsize"}
    assert sections["rightsize"]["headroom"] == 0.3
    assert sections["slo"] == [
        {"model_name": "fraud", "kind": "availability", "target": 0.999, "latency_threshold_ms": None}
    ]
    assert sections["alerts"]["receivers"] == {"chat": "slack"}
    assert sections["drift"]["window_s"] == 3600
    assert "secret-token" not in out


def test_findings_list_reports_unknown_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A detector that does not exist is bad usage naming the real ones; a model without findings is said so."""
    db = f"sqlite:///{tmp_path / 'ready.db'}"
    assert main(["db", "upgrade", "--db-url", db]) == EXIT_OK
    capsys.readouterr()
    assert main(["findings", "list", "--db-url", db, "--detector", "latncy"]) == EXIT_USAGE
    assert "unknown detector 'latncy'; detectors: latency, slo.burn" in capsys.readouterr().err
    assert main(["findings", "list", "--db-url", db, "--model", "fraud"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "no finding names model 'fraud'; models with findings: none yet" in captured.err
    assert captured.out.strip() == "no findings"
