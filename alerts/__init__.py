"""The alert state machine, routing, grouping, silences, the delivery outbox and its sinks."""
