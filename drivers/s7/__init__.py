"""Siemens S7 driver (S7-200 SMART, S7-300/400, S7-1200/1500 with PUT/GET) over python-snap7."""
