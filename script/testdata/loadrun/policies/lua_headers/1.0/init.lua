-- The load run's custom policy: the header edits of the builtin headers
-- policy in gateway-headers.yaml, written in Lua.
local _M = require('apicast.policy').new('lua_headers', '1.0')

function _M:rewrite(context)
  ngx.req.set_header('X-Gateway', 'verdict')
end

function _M:header_filter(context)
  ngx.header['X-Served-By'] = 'verdict'
end

return _M
