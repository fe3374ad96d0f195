SELECT password_hash, is_superuser FROM mqtt_users WHERE username = $1
