"""Sparkplug B 3.0 output mode (docs/STANDARDS.md §5.4): payload codec and the edge node's session.

`SparkplugSession` is transport-free; the MQTT sink publishes the `Message`s it returns.
"""

from collector.sinks.sparkplug.codec import CodecError, DataType, Quality, datatype_for, quality_of
from collector.sinks.sparkplug.session import (
    Message,
    SessionError,
    SparkplugSession,
    default_metric_name,
    group_id_for,
    host_state,
)

__all__ = [
    "CodecError",
    "DataType",
    "Message",
    "Quality",
    "SessionError",
    "SparkplugSession",
    "datatype_for",
    "default_metric_name",
    "group_id_for",
    "host_state",
    "quality_of",
]
