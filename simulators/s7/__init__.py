"""Siemens PLC simulator: python-snap7's S7 server behind a fault-injecting TCP proxy."""

from simulators.s7.simulator import S7Simulator

__all__ = ["S7Simulator"]
