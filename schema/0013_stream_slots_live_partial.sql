-- Playback speed (issue 8 benchmark): the live-slot index holds live slots
-- only.  Owner: households/.  Why and the figures: docs/households.md
-- ("Performance").
--
-- Every start ends the device's previous slot and inserts a new one.  With
-- ended_at in the key, ending a slot moved its entry (a delete and an
-- insert) and the index kept one entry for every slot ever started, so it
-- grew with history while only the few live ones are ever asked for
-- ("account_id = ? AND ended_at IS NULL": counting, freeing and listing an
-- account's live streams).  A partial index over the live rows answers the
-- same queries, loses an entry when a slot ends, and stays as small as the
-- number of streams playing now.  ended_at (always NULL in it) is a key
-- column only so that counting an account's live slots reads the index alone.
DROP INDEX stream_slots_live;
CREATE INDEX stream_slots_live ON stream_slots (account_id, expires_at, ended_at) WHERE ended_at IS NULL;
