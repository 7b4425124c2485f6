"""HTTP: the app factory, the ingest endpoint, operations endpoints and the API dialects."""
