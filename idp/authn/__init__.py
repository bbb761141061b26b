"""Who is asking: the sign-in state machine (password, then TOTP), throttling, and its outcome
(a ``Principal``). Password hashes belong to the directory (``idp.directory.passwords``)."""
