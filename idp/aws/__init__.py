"""The AWS side of federation: what AWS expects in an assertion, the simulated IAM, the AWS
console's SAML sign-in and the STS API, all framework-free (``idp.web`` serves them).

One module per concern::

    vocabulary      attribute names, value patterns, limits, AWS sign-in URLs and hosts
    attributes      the IdP side: a directory user → the attributes AWS reads
    claims          the AWS side: reading those attributes back from a verified assertion
    iam             the IAM twin: accounts, SAML providers (metadata), roles, users, access
                    keys, MFA devices, kept in the shared store (iam/), and its API (iam/api)
    principals      who signed a request (an IAM user, a user's or a role's session)
    callers         resolving a SigV4-signed request to its caller
    policy          evaluating trust and identity policies (grammar: idp.directory.policy)
    authorization   may this caller do this: identity policies, AWS's AccessDenied text
    trust           what AssumeRoleWithSAML puts to the trust policy
    assume_role     AssumeRole, GetSessionToken and the console's switch role
    mfa             virtual MFA codes, each accepted once
    limits          session durations and the packed size of session policy and tags
    replay          one-time use of assertions, across workers
    federation      verify a Response for a provider, then assume a role (console and STS)
    params          the STS API's parameter checks
    sts             the STS operations (AssumeRoleWithSAML, AssumeRole, GetSessionToken,
                    GetCallerIdentity, GetAccessKeyInfo)
    credentials     stateless temporary credentials
    sigv4           verifying SigV4-signed requests
    wire            the Query protocol's XML
    errors          AWS errors as classes (code, status)
    console         the console's SAML sign-in: select a role, open a session, deep links
    signin          the console's IAM-user sign-in and switch role
    console_session the console session cookie and sign-out
    diagnostics     what AWS never says: why a Response was refused, what it claims
"""
