-- A small helper kept under vendor/ to show that a policy's own files are
-- found by require.
local cjson = require('cjson')

local _M = {}

function _M.deny(status, message)
  ngx.status = status
  ngx.header['Content-Type'] = 'application/json'
  ngx.print(cjson.encode({ error = { status = status, message = message } }))
  return ngx.exit(status)
end

return _M
