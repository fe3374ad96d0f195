ON CONFLICT (clientid) DO UPDATE SET
    username = excluded.username, online = TRUE, node = excluded.node,
    peer = excluded.peer, protocol = excluded.protocol,
    proto_ver = excluded.proto_ver, connected_at = excluded.connected_at
WHERE mqtt_clients.connected_at IS NULL
   OR excluded.connected_at IS NULL
   OR mqtt_clients.connected_at <= excluded.connected_at
