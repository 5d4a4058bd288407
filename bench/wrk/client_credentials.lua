-- wrk script: client_credentials issuance as svc-a (Basic auth).
-- wrk counts every non-2xx answer in summary.errors.status; the result line reports it, so
-- errors are never mistaken for throughput. (No response() hook: it would slow wrk down.)
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic c3ZjLWE6YmVuY2gtc2VjcmV0" -- svc-a:bench-secret

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrk-result requests=%d errors=%d rps=%.0f p50_us=%d p99_us=%d\n",
    summary.requests, errors, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99)))
end
