-- A disconnect changes the row only while it still names the same
-- connection (node and connect time).
UPDATE mqtt_clients
SET online = FALSE, disconnected_at = $1, disconnect_reason = $2
WHERE clientid = $3 AND node = $4 AND connected_at IS NOT DISTINCT FROM $5
