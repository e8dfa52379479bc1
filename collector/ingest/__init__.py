"""The ingest path: decode, validate, spool, write. Imports only ``collector.core``.

``otlp_traces`` and ``otlp_logs`` decode OTLP exports, ``native_decode`` and ``prediction_records`` the
``inferwatch.v1`` prediction API; ``cardinality`` bounds span labels; ``servicers`` answers the ingest RPCs
and appends to the durable ``spool``; ``writer`` (a child process, run by ``writer_supervisor``) moves the
spool into the database.
"""
