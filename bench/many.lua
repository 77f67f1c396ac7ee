-- wrk script of bench/load.sh MODE=many: each request carries one of many
-- tokens (MANY_TOKENS, one per line), in the order of MANY_PICKS (0-based
-- token indices drawn with Zipf popularity), from a random starting point.
local headers = {}
for line in io.lines(os.getenv("MANY_TOKENS")) do
	headers[#headers + 1] = "Bearer " .. line
end
local picks = {}
for line in io.lines(os.getenv("MANY_PICKS")) do
	picks[#picks + 1] = tonumber(line) + 1
end
local n = #picks
math.randomseed(os.time())
local i = math.random(n)

request = function()
	i = i + 1
	if i > n then
		i = 1
	end
	wrk.headers["Authorization"] = headers[picks[i]]
	return wrk.format()
end
