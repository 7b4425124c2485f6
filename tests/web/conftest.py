"""The dashboard's tests run against the API tests' in-process nodes."""

from tests.api.conftest import make_node, node  # noqa: F401  (the node fixtures, shared)
