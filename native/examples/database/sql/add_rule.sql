INSERT INTO mqtt_acl (seq, who, name, action, topic, permission)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
