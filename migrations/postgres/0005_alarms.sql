-- Device alarms: smoke, gas, water and fire-lane sensors in compounds raise events through a signed
-- webhook or MQTT. `secret` holds the device's HMAC-SHA256 key (hex), encrypted with the field key.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit_code TEXT COLLATE "C" NOT NULL,
    house_id TEXT,
    type_code TEXT NOT NULL REFERENCES event_types (code),
    secret TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    created_ms BIGINT NOT NULL
);
CREATE INDEX devices_unit ON devices (unit_code);

-- One row per (device, message id): accepted messages with their event (de-duplication), and
-- rejected ones with the reason (`outcome` is `accepted` or an error code such as alarm.bad_signature).
CREATE TABLE device_messages (
    device_id TEXT NOT NULL REFERENCES devices (id),
    msg_id TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    event_id TEXT REFERENCES events (id),
    PRIMARY KEY (device_id, msg_id)
);
CREATE INDEX device_messages_received ON device_messages (device_id, received_ms);
