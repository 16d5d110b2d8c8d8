-- Launch contexts are single use and bound to the app they were made for
-- (issue 12, finding 7). Like 0003, this lives in DB_0 (the directory shard).
-- Rows from before this migration have no client and can no longer be used.
ALTER TABLE launches ADD COLUMN client_id TEXT;
-- When `/authorize` accepted it (ms); a used launch is never accepted again.
ALTER TABLE launches ADD COLUMN used_at INTEGER;
-- Disabling or rejecting an app revokes its grants and tokens in one batch.
CREATE INDEX grants_client ON grants(client_id);
CREATE INDEX access_tokens_client ON access_tokens(client_id);
