-- Billing run speed (issue 7): fewer index entries per renewal.
-- Owner: core/ (events).  Why and the figures: docs/billing.md ("Benchmark").
--
-- No query reads the events table by subject or by type: the feed
-- (events_list, GET /admin/v1/events) walks it by id, its primary key, and
-- filters the type as it goes.  Yet every event paid for two index entries,
-- and a renewal writes four events: eight of the ~20 B-tree inserts of a
-- renewal served nothing.  A query that needs events of one subject or type
-- brings its index back with it, in its own migration.
DROP INDEX events_subject;
DROP INDEX events_type;
