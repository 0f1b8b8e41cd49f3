-- header_auth: lets a request through only when it carries one of the
-- configured API keys in a header; answers 401 or 403 with a JSON error
-- otherwise. The key's label is left in the context for later policies.
local policy = require('apicast.policy')
local errors = require('vendor/errors')

local _M = policy.new('Header authentication', '1.0')
local new = _M.new

function _M.new(config)
  local self = new()
  self.header = config.header or 'X-Api-Key'
  self.keys = {}
  for _, key in ipairs(config.keys or {}) do
    self.keys[key.value] = key.label or 'unnamed'
  end
  return self
end

function _M:access(context)
  local value = ngx.req.get_headers()[self.header]
  if type(value) == 'table' then value = value[1] end
  if not value or value == '' then
    return errors.deny(401, 'missing ' .. self.header)
  end
  local label = self.keys[value]
  if not label then
    ngx.log(ngx.WARN, 'rejected an unknown key in ', self.header)
    return errors.deny(403, 'unknown key')
  end
  context.api_key_label = label
  -- The upstream never sees the key itself.
  ngx.req.clear_header(self.header)
end

return _M
