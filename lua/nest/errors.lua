-- nest/errors.lua — HTTP errors as values a handler can raise, and the
-- JSON error envelope {"error":{"code","message","requestId","details"?}}.
local M = {}

local HttpError = {}
HttpError.__index = HttpError
HttpError.__tostring = function(e) return ("%d %s: %s"):format(e.status, e.code, e.message) end

-- A client-visible error: raise it anywhere under a handler to answer with it.
function M.new(status, code, message, details, headers)
  return setmetatable({ status = status, code = code, message = message,
                        details = details, headers = headers }, HttpError)
end

function M.raise(status, code, message, details, headers)
  error(M.new(status, code, message, details, headers), 0)
end

function M.is(e)
  return getmetatable(e) == HttpError
end

function M.envelope(code, message, request_id, details, retry_after)
  return { error = { code = code, message = message, requestId = request_id,
                     details = details, retryAfter = retry_after } }
end

return M
