-- A mixed GraphQL workload for wrk: reads (node, canvas page, dashboard) and writes
-- (create, update, move). Environment: TOKEN, PROJECT, NODES (comma-separated ids), and
-- optionally MIX naming one case to run alone (node, canvas, dashboard, create, update, move).
-- A response counts as an error when its status is not 200 or its body has "errors".

local token = os.getenv("TOKEN")
local project = os.getenv("PROJECT")
local only = os.getenv("MIX")
local nodes = {}
for id in string.gmatch(os.getenv("NODES") or "", "[^,]+") do nodes[#nodes + 1] = id end

local headers = { ["content-type"] = "application/json", ["authorization"] = "Bearer " .. token }

local function q(s) return '"' .. s:gsub('"', '\\"') .. '"' end
local function any_node() return nodes[math.random(#nodes)] end

local cases = {
  node = { weight = 4, body = function()
    return '{"query":' .. q('query($id: ID!) { node(id: $id) { id ... on GraphNode { prompt status version } } }')
      .. ',"variables":{"id":"' .. any_node() .. '"}}'
  end },
  canvas = { weight = 2, body = function()
    return '{"query":' .. q('query($id: ID!) { project(id: $id) { nodes(first: 100) { edges { node { id position { x y } status parents { id } children { id } } } } } }')
      .. ',"variables":{"id":"' .. project .. '"}}'
  end },
  dashboard = { weight = 1, body = function()
    return '{"query":' .. q('{ projects(first: 20) { edges { node { id name owner { id } members(first: 10) { edges { node { role user { id } } } } nodes(first: 50) { edges { node { id children { id } createdBy { id } } } } } } } }') .. '}'
  end },
  create = { weight = 1, body = function()
    return '{"query":' .. q('mutation($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id } } }')
      .. ',"variables":{"i":{"projectId":"' .. project .. '","prompt":"load","position":{"x":1,"y":2},"parentIds":["' .. any_node() .. '"]}}}'
  end },
  update = { weight = 1, body = function()
    return '{"query":' .. q('mutation($i: UpdateGraphNodeInput!) { updateGraphNode(input: $i) { node { id version } } }')
      .. ',"variables":{"i":{"id":"' .. any_node() .. '","summary":"s' .. math.random(1000) .. '"}}}'
  end },
  move = { weight = 1, body = function()
    return '{"query":' .. q('mutation($i: MoveGraphNodesInput!) { moveGraphNodes(input: $i) { nodes { id } } }')
      .. ',"variables":{"i":{"moves":[{"id":"' .. any_node() .. '","position":{"x":' .. math.random(500) .. ',"y":3}}]}}}'
  end },
}

local deck = {}
for name, c in pairs(cases) do
  if only == nil or only == "" or only == name then
    for _ = 1, c.weight do deck[#deck + 1] = c end
  end
end
assert(#deck > 0, "MIX names no known case")

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

errors = 0
samples = {}
-- Each thread has its own Lua state: seed each differently (and reproducibly).
function init(args) math.randomseed(1000 * (id or 0) + 17) end
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
