"""Loopback fakes of platform APIs for the collector tests."""
