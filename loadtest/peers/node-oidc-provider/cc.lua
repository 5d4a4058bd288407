-- wrk script: client_credentials token request against the node-oidc-provider peer.
-- usage: wrk -t1 -c16 -d5s -s cc.lua http://127.0.0.1:9300
-- wrk prints "Non-2xx or 3xx responses: N" when any response was not 2xx/3xx.
wrk.method = "POST"
wrk.path = "/token"
wrk.headers["Authorization"] = "Basic c3ZjLWE6YmVuY2gtc2VjcmV0" -- svc-a:bench-secret
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials&scope=read"
