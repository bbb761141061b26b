"""Helpers shared by the tests, one concept a module (import the module you need):

- ``demo``: the demo directory's names (base URL, accounts, roles, providers, users,
  passwords, carol's TOTP secret, AWS attribute names) and ``edited_demo`` for a changed copy;
- ``http``: a browser over HTTP: ``login``, ``csrf``, ``auto_post``, ``authn_request``,
  ``redirect_value``;
- ``saml``: genuine signed Responses (``respond``), reading and editing them as trees, and
  re-signing the Assertion (``resign_assertion``, ``resigned``);
- ``builders``: the in-process core: ``identity_provider``, ``federation``, ``sts``, and the
  verifier's inputs (``trusted_issuer``, ``validation_policy``);
- ``server``: a live ``idp serve`` on a loopback port (``start``, ``stop``,
  ``running_server``);
- ``sts``: boto3 clients for the mock STS, a clean AWS environment, and ``ResponseFactory``
  (Responses signed for a live server);
- ``faults``: servers with explicit folders and workers, ``/proc`` readings, the load driver;
- ``fixtures``: the pytest plugin of the live STS suites (``server``, ``factory``,
  ``no_aws_config``), registered from ``tests/conftest.py``;
- ``specs``: ``spec_of``, the ``ResponseSpec`` a genuine Response was built from (faults);
- ``oracles``: python3-saml and pysaml2 as independent SPs, with their ``Verdict``;
- ``projects``: the installed package run as a user's project does (``clean_env``, ``run``).

The simulator's own pytest plugin (``idp.pytest_plugin``: ``saml_idp``…) is loaded from the
installed distribution's entry point, as in any project.
"""
