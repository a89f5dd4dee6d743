-- Retention of playback history (households/retention.c): stream slots and
-- decisions older than --playback-retention-days are deleted in small
-- batches.  These indexes let a purge find the oldest rows without reading
-- the tables; their keys grow with time, so inserts append to them.
CREATE INDEX playback_decisions_created ON playback_decisions (created_at);
CREATE INDEX stream_slots_started ON stream_slots (started_at);
