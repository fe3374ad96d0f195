SELECT id, who, name, action, topic, permission FROM mqtt_acl ORDER BY seq, id
