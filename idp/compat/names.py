"""The user names vendor login pages accept, mapped to directory users.

AD FS takes ``DOMAIN\\user`` and the user principal name ``user@domain``
(https://learn.microsoft.com/windows-server/identity/ad-fs/operations/configure-alternate-login-id);
Okta takes the login, usually an email address. So ``bob``, ``CORP\\bob`` (any domain),
``bob@corp.example`` (the user's email) and ``bob@CORP`` all name bob. The name found is what
login throttling counts, so every spelling shares one budget.
"""

from __future__ import annotations

from typing import Final

from idp.directory.model import Directory

__all__ = ["MAX_NAME_CHARS", "directory_name"]

#: Longer names are refused before any lookup (no directory name is near this).
MAX_NAME_CHARS: Final = 256


def directory_name(directory: Directory, raw: str) -> str:
    """The directory user name ``raw`` stands for, else ``raw`` stripped (which then fails
    the password check like any unknown user: a failure never says whether a user exists).
    A name longer than ``MAX_NAME_CHARS`` is not looked up at all."""
    name = raw.strip()
    if len(name) > MAX_NAME_CHARS or directory.user(name) is not None:
        return name
    candidate = name.rsplit("\\", 1)[1] if "\\" in name else name  # DOMAIN\user: any domain
    if candidate != name and directory.user(candidate) is not None:
        return candidate
    if "@" in candidate:
        by_email = directory.user_by_email(candidate)
        if by_email is not None:
            return by_email.username
        local = candidate.rsplit("@", 1)[0]
        if local and directory.user(local) is not None:  # user@DOMAIN (a UPN)
            return local
    return name
