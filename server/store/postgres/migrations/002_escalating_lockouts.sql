-- The security round (issue #8): escalating lockouts for the password and the MFA step, the forced
-- password change, and what a session or a challenge remembers of the MFA step.

-- The MFA lockout keeps the columns it had (mfa_failures, mfa_locked_until are its failures and
-- lockedUntil, so an account locked at the upgrade stays locked) and gains the escalation.
ALTER TABLE users
  ADD COLUMN mfa_locks integer NOT NULL DEFAULT 0 CHECK (mfa_locks >= 0),
  ADD COLUMN mfa_consecutive_failures integer NOT NULL DEFAULT 0 CHECK (mfa_consecutive_failures >= 0),
  ADD COLUMN mfa_needs_admin_unlock boolean NOT NULL DEFAULT false,
  -- The password lockout: failures and attempts in flight inside the window, the lock, the escalation.
  ADD COLUMN password_failures timestamptz[] NOT NULL DEFAULT '{}',
  ADD COLUMN password_locked_until timestamptz,
  ADD COLUMN password_locks integer NOT NULL DEFAULT 0 CHECK (password_locks >= 0),
  ADD COLUMN password_consecutive_failures integer NOT NULL DEFAULT 0
    CHECK (password_consecutive_failures >= 0),
  ADD COLUMN password_needs_admin_unlock boolean NOT NULL DEFAULT false,
  -- Set by an admin's reset: the user must pick a password of their own. NULL: the record never said
  -- (the same as false), so a record reads back exactly as it was written.
  ADD COLUMN must_change_password boolean;

-- Spent codes keep their digest now (a second submission is recognised, not counted): the comment of
-- 001 ("NULL once spent") holds only for codes spent before this version.
COMMENT ON COLUMN backup_codes.digest IS
  'base64 argon2id digest under the set''s salt, kept after the code is spent; NULL only for codes spent before 002';

ALTER TABLE tokens
  -- Sessions: the MFA step passed at sign-in (none, totp, backup_code, enrolment); NULL on older ones.
  ADD COLUMN mfa_passed text CHECK (mfa_passed IN ('none', 'totp', 'backup_code', 'enrolment')),
  -- Challenges: the fingerprint of the user's MFA record when the challenge was issued.
  ADD COLUMN mfa_fingerprint text;
