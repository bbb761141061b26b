"""The workload twins under random input: ``/imds/...`` and ``/ecs/...`` with random methods,
paths and headers (genuine tokens among them) never answer 5xx nor show a traceback."""

from __future__ import annotations

import urllib.parse

from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from idp.aws.imds import TOKEN_HEADER, TTL_HEADER, MetadataService
from idp.web.state import Services
from tests.fuzz.test_fuzz_http import check, fresh

INSTANCE = "i-0123456789abcdef0"
TASK = "billing-task"

methods = st.sampled_from(["GET", "GET", "GET", "PUT", "PUT", "HEAD", "POST", "DELETE",
                           "OPTIONS", "PATCH"])
#: Header values as a client may send them: Latin-1 text (bytes on the wire).
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                      exclude_characters="\x7f"), max_size=60)
segments = st.sampled_from(["latest", "2021-03-23", "1.0", "meta-data", "dynamic", "api",
                            "token", "iam", "security-credentials", "WebServer", "info",
                            "placement", "region", "instance-identity", "document", "",
                            ".", "..", "%00", "%2F", "%0A", "credentials", "v2"]) | st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"),
    max_size=12)
#: Real paths (botocore's among them) and their neighbours, then anything.
known_paths = st.sampled_from([
    "latest/api/token", "latest/meta-data/iam/security-credentials/",
    "latest/meta-data/iam/security-credentials/WebServer", "latest/meta-data/iam/info",
    "latest/dynamic/instance-identity/document", "latest/meta-data/placement/region",
    "latest/meta-data/", "latest/", "", "2021-03-23/api/token"])
paths = known_paths | st.lists(segments, max_size=7).map("/".join)
instances = st.sampled_from([INSTANCE] * 6 + ["i-ffffffff", "i-0123456789ABCDEF0", "x",
                                              "%20"])
tasks = st.sampled_from([TASK] * 6 + ["nope", "", "BILLING-TASK", "a" * 300])
ttls = st.sampled_from(["1", "21600", "0", "21601", "-1", "", "60", "1" * 30]) | header_values


def _token(client: TestClient, ttl: int) -> str:
    services: Services = client.app.state.runtime.services  # type: ignore[attr-defined]
    instance = services.workloads.instance(INSTANCE)
    assert instance is not None
    return MetadataService(services.workloads).new_token(instance, ttl)


@given(data=st.data())
def test_imds_never_5xx(fuzz_client: TestClient, data: st.DataObject) -> None:
    """Random method, instance, path and IMDS headers: always < 500."""
    instance = data.draw(instances, label="instance")
    path = data.draw(paths, label="path")
    headers: dict[str, bytes] = {}
    if data.draw(st.integers(0, 3), label="token?") > 0:
        genuine = _token(fuzz_client, data.draw(st.integers(1, 21600), label="token ttl"))
        token = data.draw(st.one_of(st.just(genuine), st.just(genuine), st.just(genuine),
                                    st.just(genuine[:-2] + "AA"), st.just(genuine * 2),
                                    header_values), label="token")
        headers[TOKEN_HEADER] = token.encode("latin-1")
    if data.draw(st.booleans(), label="ttl?"):
        headers[TTL_HEADER] = data.draw(ttls, label="ttl").encode("latin-1")
    if data.draw(st.integers(0, 5), label="xff?") == 0:
        headers["X-Forwarded-For"] = data.draw(header_values, label="xff").encode("latin-1")
    method = data.draw(methods, label="method")
    url = f"/imds/{instance}/{path}" if path or data.draw(st.booleans()) else \
        f"/imds/{instance}"
    check(fresh(fuzz_client).request(method, url,
                                     headers=headers))  # type: ignore[arg-type]


@given(data=st.data())
def test_ecs_never_5xx(fuzz_client: TestClient, data: st.DataObject) -> None:
    """Random method, task, path and Authorization: always < 500."""
    task = urllib.parse.quote(data.draw(tasks, label="task"), safe="")
    tail = data.draw(st.one_of(st.just("credentials"), st.just("credentials"),
                               st.just("credentials"), paths), label="tail")
    headers: dict[str, bytes] = {}
    if data.draw(st.integers(0, 3), label="authorization?") > 0:
        value = data.draw(st.sampled_from(["billing-task-token"] * 3 + ["billing-task-token "])
                          | header_values, label="authorization")
        headers["Authorization"] = value.encode("latin-1")
    method = data.draw(methods, label="method")
    check(fresh(fuzz_client).request(method, f"/ecs/{task}/{tail}",
                                     headers=headers))  # type: ignore[arg-type]
