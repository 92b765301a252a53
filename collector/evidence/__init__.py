"""Connectivity evidence: the signed audit ledger's primitives, keys, and the runtime recorder."""
