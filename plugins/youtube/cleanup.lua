-- plugins/youtube/cleanup.lua — deleting a finished download: its files
-- (video, thumbnail, .nfo) unless another download of the same user still
-- lists them, their lines in the user's download archive (so downloading
-- them again works), their place in the Plex collection, and the playlist
-- folder once empty. The Plex part runs in the background: the files are
-- gone either way, and Plex forgets them at its next scan.
local timer = require "nest.timer"
local log = require "nest.log"
local db = require "nest.db"
local store = require "plugins.youtube.store"
local files = require "plugins.youtube.files"
local plex = require "plugins.youtube.plex"

local M = {}

-- Drop these video ids from the archive (rewritten atomically).
function M.forget_archived(archive, ids)
  local f = io.open(archive, "r")
  if not f then return end
  local keep = {}
  for line in f:lines() do
    local id = line:match("^%S+%s+([%w_%-]+)")
    if not (id and ids[id]) then keep[#keep + 1] = line end
  end
  f:close()
  files.write_atomic(archive, #keep > 0 and (table.concat(keep, "\n") .. "\n") or "")
end

-- remove(row, root) -> number of files removed. The row is already deleted
-- (its items with it), so the items come from the caller's snapshot.
function M.remove(row, root, items)
  items = items or {}
  local used = store.still_used(row.user_id, row.id) or {}
  local removed, ids, rks = 0, {}, {}
  for _, it in ipairs(items) do
    local path = it.file_path ~= db.null and it.file_path or nil
    if path and not used[path] and path:sub(1, #root + 1) == root .. "/" then
      local stem = path:gsub("%.[%w]+$", "")
      for _, p in ipairs({ path, stem .. ".jpg", stem .. ".nfo" }) do
        if os.remove(p) then removed = removed + 1 end
      end
      ids[it.video_id] = true
      if it.rating_key ~= db.null and it.rating_key then rks[#rks + 1] = it.rating_key end
    end
  end
  local dir = row.output_dir ~= db.null and row.output_dir or nil
  if dir then
    local user_dir = dir:match("^(.*)/[^/]+$")
    M.forget_archived(files.archive(user_dir), ids)
    files.remove_tree(root, files.staging(user_dir, row.id))
    os.remove(dir)      -- rmdir: only when empty
  end
  local crk = row.plex_collection ~= db.null and row.plex_collection or nil
  if crk and #rks > 0 then
    timer.at(0, function(premature)
      if premature then return end
      local ok, err = plex.uncollect(crk, rks)
      if ok and row.plex_section ~= db.null and dir then ok, err = plex.scan(row.plex_section, dir, 60) end
      if not ok then log.warn("youtube: Plex clean-up incomplete", { id = row.id, error = tostring(err) }) end
    end)
  end
  return removed
end

return M
