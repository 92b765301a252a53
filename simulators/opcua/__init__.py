"""OPC UA simulators (CNC machine tools)."""

from simulators.opcua.server import CncSimulator

__all__ = ["CncSimulator"]
