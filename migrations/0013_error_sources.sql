-- 0013_error_sources.sql — where a client error came from (issue 15): the
-- distinct pages (paths, no query) and browsers ("Firefox 121") that
-- reported each fingerprint, so the admin's Errors view can say whether a
-- bug is one page's or everyone's. Both stay short: the application keeps at
-- most 10 of each (the first ones seen) and the CHECKs hold it to that.
ALTER TABLE error_reports
  ADD COLUMN pages text[] NOT NULL DEFAULT '{}' CHECK (cardinality(pages) <= 10),
  ADD COLUMN browsers text[] NOT NULL DEFAULT '{}' CHECK (cardinality(browsers) <= 10);
