DELETE FROM mqtt_users WHERE username = $1
