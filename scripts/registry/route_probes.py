#!/usr/bin/env python3
"""Requests outside the OpenAPI description, which Schemathesis never sends or never judges.

Usage: route_probes.py BASE_URL

Unknown paths, empty or undecodable path segments, ids that are not 32-bit integers, duplicated
query parameters and methods a path does not have. A Confluent-compatible registry answers each
with a 4xx, Content-Type application/vnd.schemaregistry.v1+json and the body
{"error_code": N, "message": "..."} where N is the HTTP status or starts with its three digits
(Confluent answers e.g. 404 {"error_code":404,"message":"HTTP 404 Not Found"} and 405
{"error_code":405,"message":"HTTP 405 Method Not Allowed"}). The exact status is not prescribed
(400 or 404 for a bad path parameter; a duplicated query parameter may also be answered 200 by
taking one of the values, as Confluent's Jersey does).
Prints one line per probe and a closing 'N passed, N failed' line; exits 1 when any failed.
"""

import json
import sys

import requests

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

# A subject that no probe or test creates.
NO_SUCH = "weft-conformance-no-such-subject"
ANY_ANSWER = {200, 400, 404, 422}

# (method, path and query as sent, statuses accepted; a 2xx is accepted only where listed)
PROBES = [
    ("GET", "/nope", {400, 404}),
    ("GET", "/subjects/", {400, 404, 200}),
    ("GET", "/subjects//versions", {400, 404}),
    ("GET", "/subjects//versions/latest", {400, 404}),
    ("POST", "/compatibility/subjects//versions", {400, 404, 422}),
    # Last of the empty-subject probes: a router that takes the empty segment registers "" here.
    ("POST", "/subjects//versions", {400, 404, 422}),  # 422: Confluent's 42208 invalid subject
    ("GET", "/subjects/x/versions/1/nope", {400, 404}),
    ("GET", "/schemas/ids/abc", {400, 404}),
    ("GET", "/schemas/ids/-1", {400, 404}),
    ("GET", "/schemas/ids/1.5", {400, 404}),
    ("GET", "/schemas/ids/4294967296", {400, 404}),
    ("GET", "/schemas/ids/99999999999999999999/schema", {400, 404}),
    ("GET", "/subjects/%FF/versions", {400, 404}),
    ("POST", "/subjects/%C3%28/versions", {400, 404}),
    ("GET", "/config/%FF", {400, 404}),
    # Duplicated flags: refused with 400, or answered as if one value were given.
    ("GET", "/subjects?deleted=true&deleted=false", ANY_ANSWER),
    ("DELETE", f"/subjects/{NO_SUCH}?permanent=true&permanent=true", ANY_ANSWER),
    ("GET", f"/subjects/{NO_SUCH}/versions/latest?deleted=1&deleted=1", ANY_ANSWER),
    ("GET", "/schemas/ids/2147483647/versions?deleted=1&deleted=0", ANY_ANSWER),
    ("GET", f"/config/{NO_SUCH}?defaultToGlobal=true&defaultToGlobal=true", ANY_ANSWER),
    ("PATCH", "/subjects", {405}),
    ("DELETE", "/mode", {405}),
    ("POST", "/config", {405}),
    ("PUT", "/schemas/ids/1", {405}),
    ("DELETE", "/schemas/types", {405}),
    ("GET", "/compatibility/subjects/x/versions", {405}),
]


def judge(method, status, content_type, content, accepted):
    media_type = content_type.split(";")[0].strip().lower() if content_type else None
    problems = []
    if status not in accepted:
        problems.append(f"status {status}, expected one of {sorted(accepted)}")
    if media_type != CONTENT_TYPE:
        problems.append(f"Content-Type {media_type!r}, expected {CONTENT_TYPE}")
    try:
        body = json.loads(content)
    except ValueError:
        problems.append(f"body is not JSON: {content[:120]!r}")
        return problems
    if status >= 400:
        if not isinstance(body, dict) or set(body) != {"error_code", "message"}:
            problems.append(f"body is not {{error_code, message}}: {body!r}"[:200])
        else:
            code = body["error_code"]
            if not isinstance(code, int) or isinstance(code, bool) or not isinstance(body["message"], str):
                problems.append(f"error_code must be an integer and message a string: {body!r}"[:200])
            elif not (code == status or str(code)[:3] == str(status)):
                problems.append(f"error_code {code} does not match status {status}")
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    base = sys.argv[1].rstrip("/")
    passed = failed = 0
    session = requests.Session()
    for method, target, accepted in PROBES:
        # PreparedRequest keeps the path as written (no re-encoding of %FF or of //).
        request = requests.Request(method, base + "/x").prepare()
        request.url = base + target
        if method in ("POST", "PUT"):
            request.prepare_body(data=b'{"schema": "\\"string\\""}', files=None)
            request.headers["Content-Type"] = CONTENT_TYPE
        response = session.send(request, timeout=10)
        problems = judge(
            method, response.status_code, response.headers.get("content-type"), response.content, accepted
        )
        shown = response.content[:100].decode("utf-8", "replace")
        if problems:
            failed += 1
            print(f"FAIL {method} {target} -> {response.status_code} {shown!r}: " + "; ".join(problems))
            print(f"     curl -sS -i -X {method} '{base}{target}'")
        else:
            passed += 1
            print(f"ok   {method} {target} -> {response.status_code} {shown}")
    print(f"route probes: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
