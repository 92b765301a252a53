"""Shop-floor collector: engine, configuration, normalisation, delivery and evidence."""

__version__ = "0.1.0"
