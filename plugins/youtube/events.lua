-- plugins/youtube/events.lua — what a download tells its owner: WebSocket
-- events to the room user:<id> (every instance, through nest.ws) and, when
-- it ends, a notification (nest.notify) with the reason in words.
--
--   download:created | started | progress | queued | completed | failed | cancelled | deleted
local ws = require "nest.ws"
local notify = require "nest.notify"
local log = require "nest.log"

local M = {}

function M.send(user_id, ev, data)
  ws.broadcast("user:" .. math.tointeger(user_id), ev, data)
end

-- finished(user_id, status, view): the event, and a notification for the
-- endings a user wants to hear about (once per download and attempt).
function M.finished(user_id, status, view)
  M.send(user_id, "download:" .. status, view)
  local title = view.title or view.youtubeId
  local n
  if status == "completed" then
    n = { type = "youtube_completed", title = ("Downloaded: %s"):format(title),
          body = view.error or (view.collection and ("In Plex as the collection \"" .. view.collection.title .. "\"")
            or nil) }
  elseif status == "failed" then
    n = { type = "youtube_failed", title = ("Download failed: %s"):format(title), body = view.error }
  else
    return
  end
  n.link = "/youtube"
  n.data = { downloadId = view.id }
  n.key = ("youtube:%d:%d:%s"):format(math.tointeger(view.id), math.tointeger(view.attempts or 0), status)
  local ok, err = notify.user(math.tointeger(user_id), n)
  if ok == nil then log.warn("youtube: notification not stored", { error = tostring(err) }) end
end

return M
