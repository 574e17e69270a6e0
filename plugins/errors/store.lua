-- plugins/errors/store.lua — error_reports: one row per fingerprint, a
-- repeat bumps its count and last-seen time and adds its page and browser to
-- the row's (at most 10 each); the admin list, newest first; delete (the
-- admin marks a bug dealt with).
local db = require "nest.db"
local json = require "nest.json"

local M = {}

M.KEEP = 10   -- pages and browsers per fingerprint

-- record(report, user_id|nil) -> true | nil, err
function M.record(r, user_id)
  local page, browser = require("plugins.errors.report").page(r.url), r.browser
  return db.query([[
    INSERT INTO error_reports (fingerprint, message, stack, url, user_agent, release, user_id, pages, browsers)
    VALUES (decode($1, 'hex'), $2, $3, $4, $5, $6, $7, ARRAY[$8::text], ARRAY[$9::text])
    ON CONFLICT (fingerprint) DO UPDATE SET
      count = error_reports.count + 1, last_seen_at = now(),
      stack = EXCLUDED.stack, url = EXCLUDED.url, user_agent = EXCLUDED.user_agent,
      release = EXCLUDED.release, user_id = coalesce(EXCLUDED.user_id, error_reports.user_id),
      pages = CASE WHEN $8 = ANY (error_reports.pages) OR cardinality(error_reports.pages) >= $10
                   THEN error_reports.pages ELSE error_reports.pages || $8::text END,
      browsers = CASE WHEN $9 = ANY (error_reports.browsers) OR cardinality(error_reports.browsers) >= $10
                      THEN error_reports.browsers ELSE error_reports.browsers || $9::text END]],
    r.fingerprint, r.message, r.stack or db.null, r.url, r.userAgent or db.null, r.release,
    user_id or db.null, page, browser, M.KEEP)
end

local function list_of(v)
  local out = json.array()
  if type(v) == "table" then for i, x in ipairs(v) do out[i] = x end end
  return out
end

local function view(row)
  return {
    id = row.id, fingerprint = row.fp, message = row.message,
    stack = row.stack, url = row.url, userAgent = row.user_agent, release = row.release,
    count = row.count, firstSeenAt = row.first_seen_at, lastSeenAt = row.last_seen_at,
    pages = list_of(row.pages), browsers = list_of(row.browsers),
  }
end

-- list(page, per_page) -> {errors, page, perPage, totalResults, totalPages} | nil, err
function M.list(page, per_page)
  local count, err = db.query("SELECT count(*) AS n FROM error_reports")
  if not count then return nil, err end
  local rows
  rows, err = db.query([[
    SELECT id, encode(fingerprint, 'hex') AS fp, message, stack, url, user_agent, release, count,
           first_seen_at, last_seen_at, to_json(pages)::text AS pages, to_json(browsers)::text AS browsers
    FROM error_reports ORDER BY last_seen_at DESC, id DESC LIMIT $1 OFFSET $2]],
    per_page, (page - 1) * per_page)
  if not rows then return nil, err end
  local out = json.array()
  for i, r in ipairs(rows) do
    r.pages, r.browsers = json.decode(r.pages), json.decode(r.browsers)
    out[i] = view(r)
  end
  local total = count[1].n
  return { errors = out, page = page, perPage = per_page, totalResults = total,
           totalPages = (total + per_page - 1) // per_page }
end

-- remove(id) -> true | false | nil, err
function M.remove(id)
  local r, err = db.query("DELETE FROM error_reports WHERE id = $1", id)
  if not r then return nil, err end
  return r.affected > 0
end

return M
