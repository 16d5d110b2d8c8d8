-- wrk script: cycles through request paths from a file (one per line),
-- each thread from its own starting point, with the bearer token given as
-- the second argument, or the line's own (`TOKEN PATH`: the apps' runs,
-- where each patient's paths carry that patient's token); prints one
-- machine-readable RESULT line at the end.
local paths = {}
local tokens = {}
local idx = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      local token, path = line:match("^(%S+) (/%S*)$")
      paths[#paths + 1] = path or line
      tokens[#tokens + 1] = token or args[2] or ""
    end
  end
  idx = math.random(#paths)
end

function request()
  idx = idx % #paths + 1
  return wrk.format("GET", paths[idx], { ["Authorization"] = "Bearer " .. tokens[idx] })
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT p50_ms=%.3f p99_ms=%.3f rps=%.1f requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6), summary.requests, errors))
end
