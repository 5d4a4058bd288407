"""Schemathesis hooks of the black-box test tests/blackbox/openapi.rs.

The access token of tokeninfo and userinfo (the `bearerAccessToken` scheme). RFC 6750 §2: a
client sends it in exactly one way, and a request with two is answered `invalid_request` by
design. Schemathesis' own auth would add the header to every request, also to those it
generated with an `access_token` parameter, and a hook cannot take it off again. So the hook
is the auth: a request without a generated `access_token` gets `Authorization: Bearer` with
the real token the test issued ($TESSERA_ACCESS_TOKEN), one with a generated token is sent
as generated, and the server judges that token.
"""

import os

import schemathesis

BEARER_PATHS = ("/api/oauth/tokeninfo", "/api/oauth/userinfo")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.path not in BEARER_PATHS:
        return
    sent = {}
    for part in (case.query, case.body):
        if isinstance(part, dict):
            sent.update(part)
    headers = case.headers if isinstance(case.headers, dict) else {}
    for name in [n for n in headers if n.lower() == "authorization"]:
        del headers[name]
    # An empty parameter counts as omitted (RFC 6749 §3.1), so the header is the token then.
    if sent.get("access_token") in (None, ""):
        headers["Authorization"] = "Bearer " + os.environ["TESSERA_ACCESS_TOKEN"]
    case.headers = headers
