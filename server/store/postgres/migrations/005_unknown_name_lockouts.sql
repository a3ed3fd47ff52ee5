-- The password lockout of names no account has: an unknown name is reserved, refused and locked like
-- a known one, so that neither the answer nor its timing tells whether an account exists.
CREATE TABLE unknown_name_lockouts (
  -- SHA-256 (hex) of the lower-cased name: the lockout needs to match the name, not to read it.
  name_hash text PRIMARY KEY,
  -- The Lockout record as the server uses it (failures, lockedUntil, locks, consecutiveFailures,
  -- needsAdminUnlock).
  lockout jsonb NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now()
);
