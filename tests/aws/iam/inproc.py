"""botocore's own IAM serializer, SigV4 signer and parser over the in-process app.

``IamClient(test_client, key, secret).call("CreateUser", UserName="x")`` builds the request
exactly as boto3's ``iam`` client would (query serializer with validation, SigV4 for
``iam``/``us-east-1``), sends it through Starlette's TestClient, parses the answer with
botocore's Query parser and its policy-decoding handler, and raises ``ClientError`` on an
error, as boto3 does.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore import parsers, serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.handlers import json_decode_policies
from botocore.utils import percent_encode_sequence
from starlette.testclient import TestClient

from tests.support.demo import BASE_URL

__all__ = ["ADMINS", "MODEL", "IamClient"]

MODEL = botocore.session.get_session().get_service_model("iam")
_SERIALIZER = serialize.create_serializer("query", include_validation=True)
#: As boto3 with ``Config(parameter_validation=False)`` (or another SDK) sends.
_UNCHECKED = serialize.create_serializer("query", include_validation=False)
_PARSER = parsers.create_parser("query")

#: The demo's admin keys: corp-prod, corp-dev; ops (no IAM rights); the vendor's auditor.
ADMINS = {
    "prod": ("AKIAPRODADMINEXAMPLE", "prodAdmin/DemoSecretAccessKey/0000000000"),
    "dev": ("AKIADEVADMINEXAMPLE0", "devAdmin/DemoSecretAccessKey/00000000000"),
    "ops": ("AKIAOPSUSEREXAMPLE00", "opsUser/DemoSecretAccessKey/000000000000"),
    "auditor": ("AKIAVENDORAUDITOR000", "vendorAuditor/DemoSecretAccessKey/000000"),
}


class IamClient:
    def __init__(self, client: TestClient, key: str, secret: str, token: str | None = None,
                 *, path: str = "/aws/iam") -> None:
        self.client = client
        self.credentials = Credentials(key, secret, token)
        self.path = path
        self.last: Any = None

    def raw(self, body: bytes | str, *, sign: bool = True) -> Any:
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = AWSRequest(method="POST", url=f"{BASE_URL}{self.path}", data=data,
                             headers={"Content-Type":
                                      "application/x-www-form-urlencoded; charset=utf-8"})
        if sign:
            SigV4Auth(self.credentials, "iam", "us-east-1").add_auth(request)
        response = self.client.post(self.path, content=data, headers=dict(request.headers))
        self.last = response
        return response

    def call(self, operation: str, *, validate: bool = True, **params: Any) -> dict[str, Any]:
        model = MODEL.operation_model(operation)
        serializer = _SERIALIZER if validate else _UNCHECKED
        serialized = serializer.serialize_to_request(params, model)
        response = self.raw(percent_encode_sequence(serialized["body"]))
        parsed: dict[str, Any] = _PARSER.parse(
            {"status_code": response.status_code, "headers": dict(response.headers),
             "body": response.content}, model.output_shape)
        if response.status_code >= 300:
            raise ClientError(parsed, operation)  # type: ignore[arg-type]
        json_decode_policies(parsed, model)
        return parsed
