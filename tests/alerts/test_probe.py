"""`inferwatch alerts test RECEIVER` against real receivers on loopback and a real Alertmanager."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alerts.probe import TEST_ALERTNAME
from collector.cli.commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from tests.alerts.conftest import Receiver, free_port, wait_for


def write_config(folder: Path, receivers: dict[str, dict[str, Any]], *, send_timeout: str = "5s") -> str:
    """An inferwatch.toml with these receivers under [alerts], the first one on the root route."""
    lines = [
        "[alerts]",
        f'send_timeout = "{send_timeout}"',
        "",
        "[alerts.route]",
        f'receiver = "{next(iter(receivers))}"',
    ]
    for name, options in receivers.items():
        lines += ["", f"[alerts.receivers.{name}]"] + [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    path = folder / "inferwatch.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command's exit status, stdout and stderr."""
    status = main(["alerts", "test", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_webhook_that_takes_the_test_notification_exits_0(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The receiver gets an Alertmanager v4 payload naming the test; the answer says HTTP 200 and how long it took."""
    config = write_config(tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/hook"}})
    status, out, err = run(capsys, "oncall", "--config", config, "--json")
    assert status == EXIT_OK, err
    answer = json.loads(out)
    assert (answer["receiver"], answer["type"], answer["ok"], answer["status_code"]) == ("oncall", "webhook", True, 200)
    assert answer["latency_ms"] > 0
    assert answer["hint"] == ""
    [body] = receiver.received()
    assert body["version"] == "4"
    assert body["receiver"] == "oncall"
    assert body["alerts"][0]["labels"]["alertname"] == TEST_ALERTNAME
    assert "test notification" in body["alerts"][0]["annotations"]["summary"].lower()
    assert config in err  # which configuration was used, on stderr
    status, out, _ = run(capsys, "oncall", "--config", config)
    assert status == EXIT_OK
    assert "delivered" in out
    assert "HTTP 200" in out


def test_a_slack_receiver_gets_a_readable_test_message(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Slack incoming webhook (here a loopback server speaking its part) gets a titled message."""
    config = write_config(tmp_path, {"chat": {"type": "slack", "url": f"{receiver.url}/services/T/B/X"}})
    status, _, err = run(capsys, "chat", "--config", config)
    assert status == EXIT_OK, err
    [message] = receiver.received()
    assert message["text"] == f"[FIRING:1] {TEST_ALERTNAME}"


@pytest.mark.parametrize(
    ("code", "advice"),
    [(500, "the receiver's own logs"), (401, "credentials"), (404, "check the URL"), (400, "refused the payload")],
)
def test_a_receiver_that_refuses_exits_1_with_the_status_and_what_to_check(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str], code: int, advice: str
) -> None:
    """A refusal is exit 1 with the receiver's status and a hint that fits it."""
    receiver.status = code
    config = write_config(tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/hook"}})
    status, out, _ = run(capsys, "oncall", "--config", config)
    assert status == EXIT_FAILED
    assert f"HTTP {code}" in out
    assert "FAILED" in out
    assert advice in out
    status, out, _ = run(capsys, "oncall", "--config", config, "--json")
    assert (json.loads(out)["ok"], json.loads(out)["status_code"]) == (False, code)


def test_an_unreachable_receiver_exits_1_naming_the_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: exit 1, the URL it tried, and to check host, port and reachability."""
    url = f"http://127.0.0.1:{free_port()}/hook"
    config = write_config(tmp_path, {"oncall": {"type": "webhook", "url": url}})
    status, out, _ = run(capsys, "oncall", "--config", config)
    assert status == EXIT_FAILED
    assert f"cannot reach {url}" in out
    assert "host and port" in out


def test_a_receiver_that_does_not_answer_in_time_exits_1_naming_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receiver that holds the connection past alerts.send_timeout: exit 1, and the timeout is named."""
    held = Receiver(hold=True)
    try:
        config = write_config(tmp_path, {"oncall": {"type": "webhook", "url": held.url}}, send_timeout="1s")
        status, out, _ = run(capsys, "oncall", "--config", config)
    finally:
        held.close()
    assert status == EXIT_FAILED
    assert "alerts.send_timeout (1 s)" in out


def test_an_unknown_receiver_is_exit_2_listing_the_configured_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name not under [alerts.receivers]: exit 2, and stderr lists what is configured."""
    config = write_config(
        tmp_path,
        {"oncall": {"type": "webhook", "url": "http://127.0.0.1:9/a"}, "chat": {"type": "slack", "url": "http://x/b"}},
    )
    status, out, err = run(capsys, "pager", "--config", config)
    assert status == EXIT_USAGE
    assert out == ""
    assert "no receiver 'pager'" in err
    assert "configured: chat, oncall" in err
    (tmp_path / "empty.toml").write_text("")
    status, _, err = run(capsys, "pager", "--config", str(tmp_path / "empty.toml"))
    assert status == EXIT_USAGE
    assert "configured: none" in err


def _alertmanager_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.load(response)
    return alerts


def test_a_real_alertmanager_takes_the_test_alert(
    shared_alertmanager: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Posted to /api/v2/alerts: exit 0, and the Alertmanager lists the test alert for this receiver, active."""
    config = write_config(tmp_path, {"am_probe": {"type": "alertmanager", "url": shared_alertmanager}})
    status, out, err = run(capsys, "am_probe", "--config", config, "--json")
    assert status == EXIT_OK, err
    assert json.loads(out)["status_code"] == 200

    def listed() -> list[dict[str, Any]]:
        return [
            alert
            for alert in _alertmanager_alerts(shared_alertmanager)
            if alert["labels"].get("alertname") == TEST_ALERTNAME and alert["labels"].get("receiver") == "am_probe"
        ]

    [alert] = wait_for(listed, "the test alert in Alertmanager's API")
    assert alert["status"]["state"] == "active"


def test_an_alertmanager_url_with_a_wrong_path_exits_1_with_the_hint(
    shared_alertmanager: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL that already names the API path: the real Alertmanager answers 404, and the hint says which URL to use."""
    url = f"{shared_alertmanager}/api/v2/alerts"
    config = write_config(tmp_path, {"am": {"type": "alertmanager", "url": url}})
    status, out, _ = run(capsys, "am", "--config", config)
    assert status == EXIT_FAILED
    assert "HTTP 404" in out
    assert "without /api/v2/alerts" in out
