"""Helpers shared by the test suite: free ports, waiting for conditions, real servers."""
