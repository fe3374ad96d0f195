-- Followed by connected_wins.sql: a connect wins over the row unless the
-- row names a newer connection.
INSERT INTO mqtt_clients
    (clientid, username, online, node, peer, protocol, proto_ver, connected_at)
VALUES ($1, $2, TRUE, $3, $4, $5, $6, $7)
