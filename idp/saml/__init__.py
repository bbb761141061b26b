"""The framework-free SAML 2.0 core: requests, assertions, signing, bindings, metadata, and the
SP-side verifier (``validation``) with its one algorithm policy (``algorithms``).

Knows nothing about the directory, AWS or Starlette (pinned by ``tests/test_architecture.py``).
"""
