"""Normalizers: pure functions from one raw record to post rows (see tasks/records.py)."""
