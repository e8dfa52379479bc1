"""The [alerts] section: Alertmanager's routing tree and matchers, and eager errors that name key and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig, parse_alerts_section, parse_duration
from alerts.model import Matcher
from alerts.routing import group_for, matching_routes
from collector.core.config import load_config
from collector.core.errors import ConfigError

TOML = """
[alerts]
for = "2m"
keep_firing_for = "10m"
external_url = "https://inferwatch.example.org/"
runbook_url = "https://runbooks.example.org/{alertname}"

[alerts.route]
receiver = "team"
group_by = ["alertname", "model"]
group_wait = "30s"

[[alerts.route.routes]]
matchers = ['severity="critical"']
receiver = "pager"
group_wait = "10s"
continue = true

[[alerts.route.routes]]
matchers = ['model=~"fraud.*"']
receiver = "fraud-team"
group_by = ["..."]

[alerts.receivers.team]
type = "slack"
url = "https://hooks.slack.com/services/T/B/x"

[alerts.receivers.pager]
type = "webhook"
url = "https://pager.example.org/hook"

[alerts.receivers.fraud-team]
type = "alertmanager"
url = "http://alertmanager:9093"
"""


def loaded(tmp_path: Path) -> AlertsConfig:
    """Parse the example through the real configuration loader."""
    (tmp_path / "inferwatch.toml").write_text(TOML)
    config = load_config(environ={}, cwd=tmp_path)
    return parse_alerts_section(config.feature_sections["alerts"])


def test_file_section_parses_with_inheritance(tmp_path: Path) -> None:
    """Children inherit what they leave unset; "..." groups by every label."""
    alerts = loaded(tmp_path)
    assert (alerts.for_s, alerts.keep_firing_for_s) == (120, 600)
    assert alerts.external_url == "https://inferwatch.example.org"
    assert alerts.route is not None
    pager, fraud = alerts.route.routes
    assert (pager.group_by, pager.group_wait_s, pager.group_interval_s, pager.repeat_interval_s) == (
        ("alertname", "model"),
        10,
        300,
        14400,
    )
    assert fraud.group_by is None
    assert fraud.group_wait_s == 30


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "critical", "model": "fraud-v2"}, ["pager", "fraud-team"]),
        ({"severity": "critical", "model": "churn"}, ["pager"]),
        ({"severity": "warning", "model": "fraud"}, ["fraud-team"]),
        ({"severity": "warning", "model": "churn"}, ["team"]),
    ],
)
def test_routing_walks_the_tree_like_alertmanager(tmp_path: Path, labels: dict[str, str], receivers: list[str]) -> None:
    """The first matching child takes the alert; `continue` lets the next ones try; no match stays at the root."""
    route = loaded(tmp_path).route
    assert route is not None
    assert [r.receiver for r in matching_routes(route, labels)] == receivers


def test_group_key_names_route_and_group_labels(tmp_path: Path) -> None:
    """Groups are per route and per value of the group_by labels."""
    route = loaded(tmp_path).route
    assert route is not None
    group = group_for(route, {"alertname": "A", "model": "m", "severity": "warning"}, "fp")
    assert (group.key, dict(group.labels)) == ('0:{alertname="A", model="m"}', {"alertname": "A", "model": "m"})


@pytest.mark.parametrize(
    ("raw", "name", "value", "regex", "equal"),
    [
        ('severity="critical"', "severity", "critical", False, True),
        ("model!=churn", "model", "churn", False, False),
        ('model=~"fraud.*"', "model", "fraud.*", True, True),
        ("env!~dev|test", "env", "dev|test", True, False),
    ],
)
def test_matchers_parse_alertmanager_syntax(raw: str, name: str, value: str, regex: bool, equal: bool) -> None:
    """=, !=, =~ and !~, quoted or not."""
    assert Matcher.parse(raw) == Matcher(name, value, regex, equal)


def test_regex_matchers_match_the_whole_value_and_missing_is_empty() -> None:
    """Anchored like Alertmanager; a missing label is the empty string."""
    assert Matcher("model", "fraud", is_regex=True).matches({"model": "fraud"})
    assert not Matcher("model", "fraud", is_regex=True).matches({"model": "fraud-v2"})
    assert Matcher("env", "").matches({})
    assert Matcher("env", "prod", is_equal=False).matches({})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"for": "soon"}, "invalid alerts.for: 'soon'"),
        ({"keep_firing_for": -1}, "invalid alerts.keep_firing_for: -1"),
        ({"evaluation_interval": "0s"}, "invalid alerts.evaluation_interval: '0s': must be > 0"),
        ({"fro": "1m"}, "unknown key alerts.fro"),
        ({"route": {"receiver": "x"}}, "receiver 'x' is not defined"),
        ({"route": {"receiver": "x", "group_wait": "1x"}, "receivers": {"x": {"type": "webhook"}}}, "group_wait: '1x'"),
        (
            {"route": {"receiver": "x", "routes": [{"matchers": ["sev=~("]}]}, "receivers": {"x": {"type": "webhook"}}},
            "alerts.route.routes[0].matchers: ['sev=~(']",
        ),
        ({"route": {"receiver": "x", "group_by": "model"}, "receivers": {"x": {"type": "a"}}}, "group_by: 'model'"),
        ({"receivers": {"x": {"type": "webhook"}}}, "no [alerts.route]"),
        ({"receivers": {"x": {"url": "http://x"}}}, "alerts.receivers.x: missing `type`"),
    ],
)
def test_bad_values_name_key_and_value(section: dict[str, Any], message: str) -> None:
    """Every mistake is a ConfigError with the dotted key and the value as written."""
    with pytest.raises(ConfigError) as raised:
        parse_alerts_section(section)
    assert message in str(raised.value)


def test_durations() -> None:
    """Alertmanager's spellings, and plain seconds."""
    assert [parse_duration(v) for v in ("30s", "5m", "1h30m", "1d", 90, "0s")] == [30, 300, 5400, 86400, 90, 0]


def test_readme_documents_every_key() -> None:
    """Each [alerts] key, route key and sink option has a row in the README's table."""
    from alerts.config import _ROUTE_KEYS, _TOP_KEYS

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    keys = [f"alerts.{key}" for key in [*_TOP_KEYS, "external_url", "runbook_url", "inhibit_rules"]]
    keys += [f"alerts.route.{key}" for key in sorted(_ROUTE_KEYS - {"matchers", "continue"})]
    keys += ["alerts.route.routes[].matchers", "alerts.route.routes[].continue"]
    options = ["type", "send_resolved", "url", "urls", "max_alerts", "bearer_token", "channel", "resend_interval"]
    keys += [f"alerts.receivers.<name>.{option}" for option in options]
    assert [key for key in keys if f"| `{key}` |" not in readme] == []
