-- The first schema of the PostgreSQL store. One row per thing that changes on its own: spending a
-- code changes one backup_codes row, a sign-in touches one tokens row.

CREATE TABLE policy (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  mfa_usage text NOT NULL,
  backup_codes_enabled boolean NOT NULL,
  backup_codes_count integer NOT NULL CHECK (backup_codes_count BETWEEN 1 AND 20),
  warn_when_remaining integer NOT NULL CHECK (warn_when_remaining BETWEEN 0 AND 20)
);

CREATE TABLE users (
  id text PRIMARY KEY,
  -- Creation order, for listing users as the lowdb store does.
  created_seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  username text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'user')),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  mfa_type text NOT NULL,
  totp_secret text,
  mfa_enrolled boolean NOT NULL,
  mfa_configure_later boolean NOT NULL,
  -- The last accepted TOTP time step: a step at or before it is refused.
  totp_last_step bigint,
  -- Failed MFA attempts inside the lockout window, and the lock's end.
  mfa_failures timestamptz[] NOT NULL DEFAULT '{}',
  mfa_locked_until timestamptz
);
-- "Alice" and "alice" are one account (usernames are ASCII, so lower() is the same rule as the app's).
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE INDEX users_admins ON users (created_seq) WHERE role = 'admin';

-- A user's one live set; a new set replaces the row (and its codes, by cascade) in one transaction.
CREATE TABLE backup_code_sets (
  user_id text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  set_id text NOT NULL,
  salt text NOT NULL,
  generated_at timestamptz NOT NULL
);

CREATE TABLE backup_codes (
  user_id text NOT NULL REFERENCES backup_code_sets (user_id) ON DELETE CASCADE,
  number integer NOT NULL,
  -- base64 argon2id digest under the set's salt; NULL once spent.
  digest text,
  used_at timestamptz,
  PRIMARY KEY (user_id, number)
);

-- Sessions and MFA challenges by the SHA-256 of their token. A logged-out token stays as a
-- tombstone (dead_at) for a while, so a request that read it before the logout cannot write it back.
CREATE TABLE tokens (
  hash text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('session', 'mfa')),
  user_id text NOT NULL,
  created_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  pending_secret text,
  -- The database's own clock, for the sweep (tests run the app on a fake clock).
  written_at timestamptz NOT NULL DEFAULT now(),
  dead_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);
CREATE INDEX tokens_sweep ON tokens (written_at);

-- Failed attempts per client address (its SHA-256, not the address).
CREATE TABLE ip_failures (
  ip_hash text NOT NULL,
  at timestamptz NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ip_failures_ip_at ON ip_failures (ip_hash, at);
CREATE INDEX ip_failures_sweep ON ip_failures (written_at);

CREATE TABLE audit_events (
  -- Append order: newest first is ORDER BY seq DESC.
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  at timestamptz NOT NULL,
  type text NOT NULL,
  actor_id text,
  actor_username text,
  subject_id text,
  subject_username text,
  ip text,
  user_agent text,
  details jsonb
);
-- The newest events of a user (as actor or as subject) and of a type, read from an index.
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_subject ON audit_events (subject_id, seq DESC) WHERE subject_id IS NOT NULL;
CREATE INDEX audit_events_type ON audit_events (type, seq DESC);
