-- The benchmark cases of issue 9 for wrk, over the `plexus bench-data` dataset.
-- Environment: TOKEN, PROJECT, NODES (comma-separated, the first 100 are PROJECT's),
-- CONVERSATIONS, DIMENSIONS, and CASE: one of a b c d e f, or mix (a b c e f, plus d when
-- the schema has conversations: HAS_D=1).
--   a  node(id) on a graph node
--   b  one project's canvas: project → nodes(first: 100) { position status parents children }
--   c  the dashboard: projects(first: 20) → nodes(first: 50) → children, createdBy;
--      members → user; owner
--   d  a conversation's last 50 messages with their tool calls
--   e  createGraphNode with a parent (a write)
--   f  searchDocuments with a 384-dimension embedding (the viewer's packs)
-- A response counts as an error when its status is not 200 or its body has "errors".

local token = os.getenv("TOKEN")
local project = os.getenv("PROJECT")
local only = os.getenv("CASE") or "mix"
local dims = tonumber(os.getenv("DIMENSIONS") or "384")
local function list(name)
  local t = {}
  for id in string.gmatch(os.getenv(name) or "", "[^,]+") do t[#t + 1] = id end
  return t
end
local nodes = list("NODES")
local conversations = list("CONVERSATIONS")
local own = {}
for i = 1, math.min(100, #nodes) do own[i] = nodes[i] end

local headers = { ["content-type"] = "application/json", ["authorization"] = "Bearer " .. token }
local function q(s) return '"' .. s:gsub('"', '\\"') .. '"' end
local function pick(t) return t[math.random(#t)] end

local Q = {
  a = q('query Node($id: ID!) { node(id: $id) { id ... on GraphNode { prompt status version } } }'),
  b = q('query Canvas($id: ID!) { project(id: $id) { id nodes(first: 100) { edges { node { id position { x y } status parents { id } children { id } } } } } }'),
  c = q('query Dashboard { projects(first: 20) { edges { node { id name owner { id username } members(first: 10) { edges { node { role user { id username } } } } nodes(first: 50) { edges { node { id status children { id } createdBy { id username } } } } } } } }'),
  d = q('query Conversation($id: ID!) { conversation(id: $id) { id messages(last: 50) { edges { node { id role content toolCalls { id name } } } } } }'),
  e = q('mutation Create($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id version } } }'),
  f = q('query Search($i: SearchDocumentsInput!) { searchDocuments(input: $i) { score document { id title } } }'),
}

local cases = {
  a = { weight = 4, body = function() return '{"query":' .. Q.a .. ',"variables":{"id":"' .. pick(nodes) .. '"}}' end },
  b = { weight = 2, body = function() return '{"query":' .. Q.b .. ',"variables":{"id":"' .. project .. '"}}' end },
  c = { weight = 1, body = function() return '{"query":' .. Q.c .. '}' end },
  d = { weight = 2, body = function() return '{"query":' .. Q.d .. ',"variables":{"id":"' .. pick(conversations) .. '"}}' end },
  e = { weight = 1, body = function()
    return '{"query":' .. Q.e .. ',"variables":{"i":{"projectId":"' .. project .. '","prompt":"bench prompt","position":{"x":'
      .. math.random(2000) .. ',"y":' .. math.random(2000) .. '},"parentIds":["' .. pick(own) .. '"]}}}'
  end },
  f = { weight = 1, body = function()
    local v = {}
    for i = 1, dims do v[i] = string.format("%.4f", math.random() * 2 - 1) end
    return '{"query":' .. Q.f .. ',"variables":{"i":{"embedding":[' .. table.concat(v, ",") .. '],"limit":10}}}'
  end },
}

local deck = {}
for name, c in pairs(cases) do
  local wanted = (only == name) or (only == "mix" and (name ~= "d" or os.getenv("HAS_D") == "1"))
  if wanted then for _ = 1, c.weight do deck[#deck + 1] = c end end
end
assert(#deck > 0, "CASE names no known case")

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

errors = 0
samples = {}
function init(args) math.randomseed(1000 * (id or 0) + 29) end
function request() return wrk.format("POST", "/graphql", headers, deck[math.random(#deck)].body()) end
function response(status, _, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if #samples < 3 then samples[#samples + 1] = status .. " " .. string.sub(body, 1, 300) end
  end
end

function done(summary, latency, _)
  local errs = 0
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    local s = t:get("samples")
    if s then for _, line in ipairs(s) do io.stderr:write("error sample: " .. line .. "\n") end end
  end
  io.write(string.format("RESULT requests=%d errors=%d socket_errors=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f\n",
    summary.requests, errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
