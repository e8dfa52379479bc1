"""The service's web face: JSON list endpoints and server-rendered pages, sharing one set of queries."""
