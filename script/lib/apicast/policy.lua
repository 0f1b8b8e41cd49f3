-- apicast.policy: the base of every custom policy. policy.new(name, version)
-- returns a module whose phase methods do nothing until the policy
-- defines them, and whose new() makes an instance of it.
local _M = {}

-- The phases a policy may act in, in the order a request meets them.
_M.PHASES = {
  'init', 'init_worker', 'ssl_certificate', 'rewrite', 'access', 'content',
  'balancer', 'header_filter', 'body_filter', 'post_action', 'log', 'metrics',
}

-- noop stands for a phase the policy does not act in; the runtime skips
-- phases whose method is still this function.
local function noop() end
_M.noop = noop

function _M.new(name, version)
  local policy = {
    _NAME = name or 'unnamed policy',
    _VERSION = version or '0.0',
  }
  local mt = { __index = policy }
  mt.__tostring = function()
    return 'policy: ' .. policy._NAME .. ' (' .. policy._VERSION .. ')'
  end

  function policy.new()
    return setmetatable({}, mt)
  end

  for i = 1, #_M.PHASES do
    policy[_M.PHASES[i]] = noop
  end

  return policy, mt
end

return _M
