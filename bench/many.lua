-- wrk script of bench/load.sh MODE=many: each request carries one of many
-- tokens (MANY_TOKENS, one per line), in the order of MANY_PICKS (0-based
-- token indices drawn with Zipf popularity).
--
-- Where in the order a run starts: MANY_POS names a file holding a
-- position (requests of the order already sent; the order repeats past
-- its end). Without it a run starts at a random point. With MANY_ADVANCE=1
-- the run writes back where it stopped (its start plus the requests it
-- completed), so that the next run goes on with the stream instead of
-- replaying part of it; without, it leaves the file as it was (the plain
-- run of a pair sends the requests the guarded run after it will send).
--
-- Every token's request is formatted once, in init: formatting a request
-- per call (wrk.format) would make wrk, not Caddy, the bottleneck. The
-- files are read in init only, by the thread that sends, not by the main
-- state that runs done().
local pos_file = os.getenv("MANY_POS")
local advance = os.getenv("MANY_ADVANCE") == "1"
local start = nil
if pos_file then
	local f = io.open(pos_file, "r")
	if f then
		start = tonumber(f:read("*l"))
		f:close()
	end
	start = start or 0
end

local requests = {}
local picks = {}
local n = 0
local i = 0

init = function(args)
	local tokens = {}
	for line in io.lines(os.getenv("MANY_TOKENS")) do
		tokens[#tokens + 1] = line
	end
	for line in io.lines(os.getenv("MANY_PICKS")) do
		picks[#picks + 1] = tonumber(line) + 1
	end
	n = #picks
	for k, tok in ipairs(tokens) do
		requests[k] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. tok })
	end
	if start then
		i = start % n -- request() adds one before using it: picks[i + 1] is sent first
	else
		math.randomseed(os.time())
		i = math.random(n) - 1
	end
end

request = function()
	i = i + 1
	if i > n then
		i = 1
	end
	return requests[picks[i]]
end

done = function(summary, latency, reqs)
	if pos_file and advance then
		local f = assert(io.open(pos_file, "w"))
		f:write(string.format("%d\n", start + summary.requests))
		f:close()
	end
end
