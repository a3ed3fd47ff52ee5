-- "Administrators must use MFA": off for a policy saved before it existed, so existing installs keep
-- working until an admin turns it on.
ALTER TABLE policy ADD COLUMN admins_must_use_mfa boolean NOT NULL DEFAULT false;
