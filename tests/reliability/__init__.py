"""Reliability tests: bad inputs and injected faults through every component."""
