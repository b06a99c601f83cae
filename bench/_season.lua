-- wrk script for bench/registration_season.py: every pre-generated request is sent exactly once.
--
-- Python writes, per wrk thread, SEASON_DIR/requests-<tid>.bin: for each request a line
-- "<request id> <length>\n" followed by that many bytes of raw HTTP/1.1 request. Each thread
-- sends its own slice once (keep-alive connections), times every request by the X-Request-ID the
-- server echoes, and when all of its requests have been answered writes
--   SEASON_OUT/thread-<tid>.json   counts, status codes, first send and last answer (CLOCK_MONOTONIC us)
--   SEASON_OUT/latency-<tid>.txt   one latency in microseconds per line
--   SEASON_OUT/done-<tid>          marker
-- and stops its event loop. Python waits for every marker, then sends wrk SIGINT (wrk's main
-- thread otherwise sleeps for the whole -d duration).
--
-- A connection whose thread has nothing left to send gets an empty request: wrk writes zero
-- bytes and leaves the connection idle, so no request is ever sent twice.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } season_timespec;
int clock_gettime(int clk_id, season_timespec *tp);
]]
local ts = ffi.new("season_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local dir = os.getenv("SEASON_DIR")
local out = os.getenv("SEASON_OUT")

-- main Lua state: give each thread its number
local next_tid = 0
function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

-- per-thread state
local reqs, ids = {}, {}
local total, pos, answered, unmatched = 0, 0, 0, 0
local sent_at, latencies, statuses = {}, {}, {}
local first_sent, last_answered = nil, nil
local verify_pending = false
local finished = false

function init(args)
   local f = assert(io.open(string.format("%s/requests-%d.bin", dir, tid), "rb"))
   while true do
      local line = f:read("*l")
      if not line then break end
      local id, len = line:match("^(%S+) (%d+)$")
      assert(id, "bad index line in requests file")
      total = total + 1
      ids[total] = id
      reqs[total] = f:read(tonumber(len))
   end
   f:close()
   -- wrk calls request() once in thread 0 before the run, to check that it parses
   verify_pending = (tid == 0)
end

function request()
   if verify_pending then
      verify_pending = false
      return reqs[1]
   end
   if pos >= total then
      return ""
   end
   pos = pos + 1
   local t = now_us()
   if first_sent == nil then first_sent = t end
   sent_at[ids[pos]] = t
   return reqs[pos]
end

local function finish()
   finished = true
   local parts = {}
   for status, n in pairs(statuses) do
      parts[#parts + 1] = string.format('"%d": %d', status, n)
   end
   local f = assert(io.open(string.format("%s/thread-%d.json", out, tid), "w"))
   f:write(string.format(
      '{"tid": %d, "requests": %d, "sent": %d, "answered": %d, "unmatched": %d, ' ..
      '"first_sent_us": %.3f, "last_answered_us": %.3f, "statuses": {%s}}\n',
      tid, total, pos, answered, unmatched, first_sent or 0, last_answered or 0, table.concat(parts, ", ")))
   f:close()
   f = assert(io.open(string.format("%s/latency-%d.txt", out, tid), "w"))
   for i = 1, #latencies do
      f:write(string.format("%.3f\n", latencies[i]))
   end
   f:close()
   f = assert(io.open(string.format("%s/done-%d", out, tid), "w"))
   f:close()
   wrk.thread:stop()
end

function response(status, headers, body)
   local t = now_us()
   answered = answered + 1
   last_answered = t
   statuses[status] = (statuses[status] or 0) + 1
   local rid = headers["x-request-id"] or headers["X-Request-ID"] or headers["X-Request-Id"]
   local started = rid and sent_at[rid]
   if started then
      latencies[#latencies + 1] = t - started
      sent_at[rid] = nil
   else
      unmatched = unmatched + 1
   end
   if answered >= total and not finished then
      finish()
   end
end
