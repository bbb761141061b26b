"""Vendor login surfaces, framework-free: what AD FS, Okta, Shibboleth and SAML ECP clients
send, judged by the directory's own login policy, answered with the IdP's own signed Response.

``names`` maps the user names those products accept (``CORP\\bob``, ``bob@corp.example``) to
directory users; ``tokens`` seals the state the products carry between requests (Okta's
``stateToken``/``sessionToken``/``sid``, AD FS's ``MSISAuth`` and ``Context``); ``signin``
is the one place a surface signs a user in and gets the Response for AWS. The routes
(``idp.web.*_routes``) only parse and render.
"""
