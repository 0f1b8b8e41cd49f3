-- context_headers: shows context values as response headers, a help when
-- finding out what the policies of a chain leave for each other.
local policy = require('apicast.policy')
local cjson = require('cjson')
local _M = policy.new('Context headers', '1.0')
local new = _M.new

function _M.new(config)
  local self = new()
  self.keys = config.keys or {}
  self.prefix = config.prefix or 'X-Context-'
  return self
end

function _M:header_filter(context)
  for _, key in ipairs(self.keys) do
    local value = context[key]
    if type(value) == 'table' then
      value = cjson.encode(value)
    end
    if value ~= nil then
      ngx.header[self.prefix .. key] = tostring(value)
    end
  end
end

return _M
