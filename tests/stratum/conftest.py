"""The API tests' node (a real service on a fake clock), for the end-to-end stratum tests."""

from tests.api.conftest import make_node, node

__all__ = ["make_node", "node"]
