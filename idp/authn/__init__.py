"""Who is asking: passwords, TOTP, and the outcome of a login (a ``Principal``)."""
