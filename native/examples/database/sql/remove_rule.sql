DELETE FROM mqtt_acl WHERE id = $1
