"""The kernel every inferwatch package may import; it imports nothing else of inferwatch.

Domain records (``domain``), configuration read once (``config``, the ``settings`` registry), errors
(``errors``), the database (``storage``: tables, engines, migrations, cursors), pricing, findings storage,
the Prometheus registry (``metrics``), column limits (``limits``), and the contracts features plug into the
shell with: ``registration.ServiceRegistration`` (a gRPC service), ``periodic.PeriodicPass`` (a background
pass) and ``cli_args`` (the shared command-line flags and parsers).
"""
