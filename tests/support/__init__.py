"""Helpers shared by the test suites: waiting on the state of the world, cluster access."""
