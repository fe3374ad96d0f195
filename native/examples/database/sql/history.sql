INSERT INTO mqtt_client_history
    (clientid, username, event, node, at, peer, protocol, proto_ver, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
