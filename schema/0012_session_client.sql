-- Refresh tokens are bound to the OAuth client that obtained them (RFC 6749
-- section 6): a sign-in remembers its client, and a refresh must name the
-- same one.  NULL for member sign-ins without a client (password sign-ins),
-- whose refresh tokens are refreshed as before.  Owner: auth/.
ALTER TABLE sessions ADD COLUMN client_id TEXT;                -- oauth_clients.id, or NULL

-- Sign-ins made by the device flow before this migration were made on a
-- device that names its client: bind them to it.
UPDATE sessions SET client_id = (SELECT d.client_id FROM devices d WHERE d.id = sessions.device_id)
 WHERE device_id IS NOT NULL;
