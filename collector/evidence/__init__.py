"""The evidence pack (佐证材料包): built from the ledger and the store over a window, then sealed.

The builder (pack.py and the modules it calls) gathers the sources, computes every figure with the
verifier's own formulas (verify/), writes the tables, the report (report/) and the manifest, and
signs it. The ledger it reads lives in collector/ledger; the runtime side that writes the ledger is
collector/recorder.
"""
