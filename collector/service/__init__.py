"""The service shell: the composition root (``app.Service``) that starts every daemon in one exit stack, the
gRPC server (``grpc_server``) with bearer-token ``auth``, the HTTP server (``http_server``: health,
readiness, metrics, JSON API) and the finding servicer. With the CLI, the only part that imports
``detectors``, ``alerts`` and ``shadow``.
"""
