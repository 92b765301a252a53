"""The collector's web side: the evaluator's live page, the JSON API, /metrics, health and evidence packs."""
