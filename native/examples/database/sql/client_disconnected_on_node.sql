-- The Python version's disconnect (native/python/examples/database): its
-- hook arguments do not name the connection by its connect time, so the
-- row changes while this node holds it. A disconnect of a connection a
-- newer one took over (takeovered, discarded) is never written to the row.
UPDATE mqtt_clients
SET online = FALSE, disconnected_at = $1, disconnect_reason = $2
WHERE clientid = $3 AND node = $4
