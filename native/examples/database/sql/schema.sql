-- The tables of the database example, for SQLite and PostgreSQL alike:
-- {id} is the auto-increment key's type, {blob} the binary type, put in
-- by each store (Rust: store/sqlite.rs, store/postgres.rs; Python:
-- native/python/examples/database/exhook_db/store.py). Created when a
-- connection opens, if missing.
CREATE TABLE IF NOT EXISTS mqtt_users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS mqtt_acl (
    id {id},
    seq INTEGER NOT NULL DEFAULT 0,
    who TEXT NOT NULL CHECK (who IN ('all', 'username', 'clientid')),
    name TEXT,
    action TEXT NOT NULL CHECK (action IN ('publish', 'subscribe', 'pubsub')),
    topic TEXT NOT NULL,
    permission TEXT NOT NULL CHECK (permission IN ('allow', 'deny')),
    CHECK ((who = 'all') = (name IS NULL))
);
CREATE TABLE IF NOT EXISTS mqtt_clients (
    clientid TEXT PRIMARY KEY,
    username TEXT,
    online BOOLEAN NOT NULL,
    node TEXT NOT NULL,
    peer TEXT,
    protocol TEXT,
    proto_ver INTEGER,
    connected_at BIGINT,
    disconnected_at BIGINT,
    disconnect_reason TEXT
);
CREATE INDEX IF NOT EXISTS mqtt_clients_node ON mqtt_clients (node, online);
CREATE TABLE IF NOT EXISTS mqtt_client_history (
    id {id},
    clientid TEXT NOT NULL,
    username TEXT,
    event TEXT NOT NULL,
    node TEXT NOT NULL,
    at BIGINT NOT NULL,
    peer TEXT,
    protocol TEXT,
    proto_ver INTEGER,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS mqtt_client_history_clientid ON mqtt_client_history (clientid, at);
CREATE TABLE IF NOT EXISTS mqtt_messages (
    id {id},
    msgid TEXT NOT NULL,
    topic TEXT NOT NULL,
    qos SMALLINT NOT NULL,
    payload {blob} NOT NULL,
    publisher TEXT NOT NULL,
    username TEXT,
    retain BOOLEAN NOT NULL,
    published_at BIGINT NOT NULL,
    node TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mqtt_messages_published_at ON mqtt_messages (published_at);
