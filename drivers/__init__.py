"""Protocol drivers: each reads one device and returns RawSamples, raising only the errors in base.py.

The bottom layer: drivers import nothing from the collector. The collector hands each driver plain
options (drivers/<protocol>/options.py) built from its configuration.
"""
