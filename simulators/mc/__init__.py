"""Mitsubishi PLC simulator: the MC protocol's 3E binary frame over TCP, our own implementation."""

from simulators.mc.simulator import McSimulator

__all__ = ["McSimulator"]
