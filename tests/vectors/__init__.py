"""The SAML attack corpus shared by the STS and console attack suites (``tests/attacks``)."""
