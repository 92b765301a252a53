"""Simulated machines for tests, demos and commissioning drills: CNCs over OPC UA, PLCs over Modbus
TCP/RTU, whole plants from scenario files, and a fault-injection endpoint. They share no code with
the drivers, so a driver is tested against an implementation it did not write.
"""
