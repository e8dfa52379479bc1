"""Alerts: findings become alerts with a lifecycle, are routed and grouped, and are delivered without loss.

``lifecycle`` (pending, firing, resolved), ``muting`` (silences, inhibition), ``routing`` and ``grouping``
(Alertmanager's tree and timers), ``outbox`` (retries, leases), ``sinks`` (the plugin interface and the
webhook, Slack and Alertmanager sinks), ``dispatcher`` (the long-running part), ``store`` (what the CLI and
the gRPC API read and change), ``testing`` (``InMemorySink``).
"""
