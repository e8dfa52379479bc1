"""Inhibition mutes only what shares the cause, and an inhibited alert is shown with the alert that mutes it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine

from alerts.config import InhibitRule, parse_alerts_section
from alerts.model import Matcher
from alerts.muting import FiringAlert, inhibited_by
from alerts.store import AlertFilter, list_alerts
from collector.cli.commands import main
from tests.alerts.conftest import Clock, Store
from tests.alerts.helpers import dispatcher

SLO = {"detector": "slo.burn", "subject": "availability@99.9%"}


def test_a_critical_slo_burn_does_not_hide_a_cost_anomaly_or_a_new_drift(
    engine: Engine, clock: Clock, store: Store
) -> None:
    """Critical SLO burn + cost anomaly + new drift on one model: the cost and drift warnings are notified."""
    runner, sink = dispatcher(engine, clock, for_="0s", group_wait="0s", group_by=["..."])
    store(clock.now, severity="critical", **SLO)
    store(clock.now, severity="warning", detector="cost", subject="")
    store(clock.now, severity="warning", detector="drift.data", subject="amount")
    # Another SLO of the model burning at ticket level shares the cause, and is muted.
    store(clock.now, severity="warning", detector="slo.burn", subject="latency<300ms@99%")
    runner.run_once()
    notified = sorted((a.labels["detector"], a.labels["severity"]) for a in sink.alerts)
    assert notified == [("cost", "warning"), ("drift.data", "warning"), ("slo.burn", "critical")]


def test_an_inhibited_alert_names_the_alert_that_inhibits_it(
    engine: Engine, clock: Clock, store: Store, migrated_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``alerts list`` and its JSON show, on the muted alert, the fingerprint, name and severity of its inhibitor."""
    runner, _ = dispatcher(engine, clock, for_="0s", group_wait="0s")
    store(clock.now, severity="critical", detector="drift.data", subject="amount")
    store(clock.now, severity="warning", detector="drift.prediction", subject="")
    runner.run_once()
    alerts = {a.labels["severity"]: a for a in list_alerts(engine, AlertFilter(), clock.now)}
    critical, warning = alerts["critical"], alerts["warning"]
    assert warning.inhibited_by == (critical.fingerprint,)
    assert [(i.fingerprint, i.alertname, i.severity) for i in warning.inhibitors] == [
        (critical.fingerprint, "ModelDataDrift", "critical")
    ]
    assert main(["alerts", "list", "--db-url", migrated_db_url, "--json"]) == 0
    listed = {a["labels"]["severity"]: a for a in json.loads(capsys.readouterr().out)["alerts"]}
    assert listed["warning"]["inhibitors"][0]["fingerprint"] == critical.fingerprint
    assert listed["warning"]["inhibitors"][0]["alertname"] == "ModelDataDrift"
    assert main(["alerts", "list", "--db-url", migrated_db_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "FINGERPRINT",
        "STATE",
        "SEVERITY",
        "ALERTNAME",
        "MODEL",
        "VERSION",
        "SUBJECT",
        "SUMMARY",
    ]
    # The inhibited alert is listed right below the alert that inhibits it, and names it.
    assert [line.split()[0] for line in lines[1:]] == [critical.fingerprint, warning.fingerprint]
    assert f"INHIBITED by {critical.fingerprint} ModelDataDrift (critical)" in lines[2]


def test_configured_rules_replace_the_default_and_may_use_the_family() -> None:
    """``[[alerts.inhibit_rules]]`` with ``equal = ["model"]`` restores the model-wide muting; [] turns it off."""
    model_wide = parse_alerts_section(
        {
            "inhibit_rules": [
                {
                    "source_matchers": ['severity="critical"'],
                    "target_matchers": ['severity="warning"'],
                    "equal": ["model"],
                }
            ]
        }
    ).inhibit_rules
    assert model_wide == (
        InhibitRule((Matcher("severity", "critical"),), (Matcher("severity", "warning"),), ("model",)),
    )
    source = FiringAlert("s", {"model": "fraud", "detector": "slo.burn", "severity": "critical"})
    cost = FiringAlert("c", {"model": "fraud", "detector": "cost", "severity": "warning"})
    assert inhibited_by(cost, [source, cost], model_wide) == ("s",)
    assert inhibited_by(cost, [source, cost], parse_alerts_section({}).inhibit_rules) == ()
    by_family = parse_alerts_section(
        {
            "inhibit_rules": [
                {
                    "source_matchers": ['detector_family="slo"'],
                    "target_matchers": ['detector_family="cost"'],
                    "equal": ["model"],
                }
            ]
        }
    ).inhibit_rules
    assert inhibited_by(cost, [source, cost], by_family) == ("s",)
    assert parse_alerts_section({"inhibit_rules": []}).inhibit_rules == ()
