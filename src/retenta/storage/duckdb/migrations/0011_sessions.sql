-- UI log-in sessions. The cookie is a signed {user, session id}; a session row that is
-- revoked (log-out, password change, user removed) stops the cookie working at once.
CREATE TABLE user_sessions (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
