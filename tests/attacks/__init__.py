"""Every vector of ``tests.vectors.attacks`` against both verifying surfaces."""
