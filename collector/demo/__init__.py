"""`shopfloor demo` and the soak run: a simulated plant, broker, store, collector and historian as child
processes, a fault schedule, a live terminal view, and an evidence pack at the end."""
