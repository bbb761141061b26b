"""The framework-free SAML 2.0 core: requests, assertions, signing, bindings, metadata.

Knows nothing about AWS or Starlette (pinned by ``tests/test_architecture.py``).
"""
