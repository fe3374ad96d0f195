INSERT INTO mqtt_users (username, password_hash, is_superuser, created_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (username) DO UPDATE SET
    password_hash = excluded.password_hash, is_superuser = excluded.is_superuser
