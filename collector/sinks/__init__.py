"""Sinks: where outbox records go (MQTT, the time-series store, the embedded SQLite historian)."""

from collector.sinks.base import Batch, RejectedBatchError, RetryableSinkError, Sink

__all__ = ["Batch", "RejectedBatchError", "RetryableSinkError", "Sink"]
