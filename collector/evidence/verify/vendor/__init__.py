"""Byte-for-byte copies of collector modules the verifier needs, so the verifier stays self-contained.

Each copy is its source with a one-line header; edit the source, then run ``scripts/vendor-verify``.
tests/unit/test_verify_package.py fails when a copy differs from its source.
"""

# copy in this folder -> its source, relative to the repository root
SOURCES = {
    "chain.py": "collector/ledger/chain.py",
    "kpimodel.py": "collector/normalise/kpimodel.py",
    "registerrules.py": "collector/config/registerrules.py",
}
HEADER = "# Vendored copy of {source}: edit the source, then run scripts/vendor-verify.\n"
