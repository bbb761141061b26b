"""Which AWS Regions exist: the ones a SigV4 credential scope may name.

AWS refuses a signature scoped to a Region that does not exist for the endpoint with
``SignatureDoesNotMatch``: "Credential should be scoped to a valid region, not 'xx-east-9'. "
(AWS General Reference, "Signature Version 4 signing process": the credential scope's Region
must be the Region the request is sent to). The simulator's STS stands for every regional STS
endpoint of the ``aws`` partition at once (``sts.REGION.amazonaws.com`` and the global
``sts.amazonaws.com``, which signs as ``us-east-1``), so it accepts a scope naming any Region of
that partition and refuses the rest: other partitions (``aws-cn``, ``aws-us-gov``...) have
their own ARNs and endpoints, which this twin does not play.

The list is botocore's own endpoint data (``botocore/data/endpoints.json``), the data the AWS
SDK for Python and the AWS CLI use to choose endpoints, so it follows the installed botocore
as AWS adds Regions; it is read once, on first use.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Final

__all__ = ["PARTITION", "is_region", "regions"]

PARTITION: Final = "aws"


@functools.cache
def regions() -> frozenset[str]:
    """The Region codes of the ``aws`` partition (``us-east-1``, ``eu-west-3``...)."""
    import botocore  # type: ignore[import-untyped]  # here: nothing else needs it at start

    path = Path(botocore.__file__).parent / "data" / "endpoints.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for partition in data["partitions"]:
        if partition["partition"] == PARTITION:
            return frozenset(partition["regions"])
    raise LookupError(f"botocore's endpoint data has no {PARTITION!r} partition")


def is_region(name: str) -> bool:
    """Whether ``name`` is a Region of the ``aws`` partition (exact, case-sensitive)."""
    return name in regions()
