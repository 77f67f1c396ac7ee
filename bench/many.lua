-- wrk script of bench/load.sh MODE=many: each request carries one of many
-- tokens (MANY_TOKENS, one per line), in the order of MANY_PICKS (0-based
-- token indices drawn with Zipf popularity), from a random starting point.
-- Every token's request is formatted once, in init: formatting a request
-- per call (wrk.format) would make wrk, not Caddy, the bottleneck.
local tokens = {}
for line in io.lines(os.getenv("MANY_TOKENS")) do
	tokens[#tokens + 1] = line
end
local picks = {}
for line in io.lines(os.getenv("MANY_PICKS")) do
	picks[#picks + 1] = tonumber(line) + 1
end
local n = #picks
local requests = {}
local i = 0

init = function(args)
	for k, tok in ipairs(tokens) do
		requests[k] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. tok })
	end
	tokens = nil
	math.randomseed(os.time())
	i = math.random(n)
end

request = function()
	i = i + 1
	if i > n then
		i = 1
	end
	return requests[picks[i]]
end
