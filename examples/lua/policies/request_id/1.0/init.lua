-- request_id: gives every request an identifier, kept from the client's
-- header when it has one, sent upstream and back to the client, and left
-- in the context as request_id.
local policy = require('apicast.policy')
local _M = policy.new('Request ID', '1.0')
local new = _M.new

function _M.new(config)
  local self = new()
  self.header = config.header or 'X-Request-Id'
  return self
end

local function generate()
  local seed = ngx.now() .. ':' .. ngx.var.remote_addr .. ':' .. math.random()
  return ngx.md5(seed)
end

function _M:rewrite(context)
  local id = ngx.req.get_headers()[self.header]
  if type(id) ~= 'string' or not ngx.re.match(id, [[^[A-Za-z0-9._-]{1,128}$]]) then
    id = generate()
    ngx.req.set_header(self.header, id)
  end
  context.request_id = id
end

function _M:header_filter(context)
  ngx.header[self.header] = context.request_id
end

return _M
