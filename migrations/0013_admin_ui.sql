-- 0013_admin_ui.sql — what the admin area and personal settings need
-- (issue 15) beyond 0005's error_reports and rum_histograms.

-- Where a client error came from: the distinct pages (paths, no query) and
-- browsers ("Firefox 121") that reported each fingerprint, so the admin's
-- Errors view can say whether a bug is one page's or everyone's. Both stay
-- short: the application keeps at most 10 of each (the first ones seen) and
-- the CHECKs hold it to that.
ALTER TABLE error_reports
  ADD COLUMN pages text[] NOT NULL DEFAULT '{}' CHECK (cardinality(pages) <= 10),
  ADD COLUMN browsers text[] NOT NULL DEFAULT '{}' CHECK (cardinality(browsers) <= 10);

-- The kinds of in-app notification a user turned off (nest.notify.KINDS:
-- services, requests, downloads). No row: everything on. nest.notify checks
-- it in the same statement that stores a notification.
CREATE TABLE notification_preferences (
  user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  muted      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(muted) <= 16),
  updated_at timestamptz NOT NULL DEFAULT now()
);
