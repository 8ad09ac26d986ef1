-- One new run per request for `wrk`, POSTed to /api/v1/runs/ (bench/ingest.py runs it when
-- wrk is installed): wrk ... -s bench/wrk_single_run.lua URL -- <client key> <run id prefix>
-- Pipelines p0 … p19 must exist for the key's client.

local thread_number = 0

function setup(thread)
  thread_number = thread_number + 1
  thread:set("thread_number", thread_number)
end

function init(args)
  wrk.method = "POST"
  wrk.path = "/api/v1/runs/"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  prefix = args[2] .. "-" .. thread_number
  sent = 0
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"pipeline":"p%d","external_run_id":"%s-%d","status":"success",' ..
    '"started_at":"2026-03-01T00:00:00+00:00","finished_at":"2026-03-01T00:03:00+00:00",' ..
    '"metadata":{"attempt":1}}',
    sent % 20, prefix, sent)
  return wrk.format(nil, nil, nil, body)
end
