"""Mitsubishi MC protocol driver (3E binary frame over TCP: iQ-R, Q, L, iQ-F FX5) with its own client."""
