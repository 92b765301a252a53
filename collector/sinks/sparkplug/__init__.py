"""Sparkplug B 3.0 output mode (docs/STANDARDS.md §5.4, docs/SPARKPLUG.md).

`SparkplugSession` (session.py) is transport-free: which message next, with which seq and bdSeq;
codec.py and datatypes.py make the bytes; the sink (sink.py, link.py) publishes over MQTT.
"""

from collector.sinks.sparkplug.codec import (
    CodecError,
    DataType,
    Encoding,
    Quality,
    datatype_for,
    quality_of,
)
from collector.sinks.sparkplug.host import PrimaryHost, host_state
from collector.sinks.sparkplug.metrics import TagSpec
from collector.sinks.sparkplug.session import (
    Message,
    SessionError,
    SparkplugSession,
    default_metric_name,
    group_id_for,
)

__all__ = [
    "CodecError",
    "DataType",
    "Encoding",
    "Message",
    "PrimaryHost",
    "Quality",
    "SessionError",
    "SparkplugSession",
    "TagSpec",
    "datatype_for",
    "default_metric_name",
    "group_id_for",
    "host_state",
    "quality_of",
]
