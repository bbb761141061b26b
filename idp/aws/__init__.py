"""The AWS side of federation: what AWS expects in an assertion, the simulated IAM, the AWS
console's SAML sign-in and the STS API, all framework-free (``idp.web`` serves them).

One module per concern::

    vocabulary      attribute names, value patterns, limits, AWS sign-in URLs and hosts
    attributes      the IdP side: a directory user → the attributes AWS reads
    claims          the AWS side: reading those attributes back from a verified assertion
    iam             the simulated IAM: accounts, SAML providers (metadata), roles
    policy          evaluating a role's trust policy (the grammar: idp.directory.policy)
    trust           what AssumeRoleWithSAML puts to the trust policy
    limits          session durations and the packed size of session policy and tags
    replay          one-time use of assertions, across workers
    federation      verify a Response for a provider, then assume a role (console and STS)
    params          the STS API's parameter checks
    sts             the STS operations (AssumeRoleWithSAML, GetCallerIdentity)
    credentials     stateless temporary credentials
    sigv4           verifying SigV4-signed requests
    wire            the Query protocol's XML
    errors          AWS errors as classes (code, status)
    console         the console's sign-in: select a role, open a session, deep links
    console_session the console session cookie and sign-out
    diagnostics     what AWS never says: why a Response was refused, what it claims
"""
