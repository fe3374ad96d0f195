INSERT INTO mqtt_messages
    (msgid, topic, qos, payload, publisher, username, retain, published_at, node)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
