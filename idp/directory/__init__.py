"""Who exists: users, groups, AWS accounts and roles, and the service providers to answer.

``load_directory(path)`` reads a YAML file (``idp config --demo`` prints an example);
``demo_directory()`` is the built-in one. Both return an immutable ``Directory``.
"""

from idp.directory.loader import demo_directory, demo_yaml, load_directory, parse_directory
from idp.directory.model import Account, Directory, Group, Role, RoleGrant, User

__all__ = [
    "Account",
    "Directory",
    "Group",
    "Role",
    "RoleGrant",
    "User",
    "demo_directory",
    "demo_yaml",
    "load_directory",
    "parse_directory",
]
