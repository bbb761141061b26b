"""Fault and load tests for the real ``idp serve`` process: SIGKILL and restart, several
workers sharing state, and a bounded load run (helpers: ``tests.support.faults``)."""
