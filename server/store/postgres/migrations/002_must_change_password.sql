-- UserRecord.mustChangePassword (an admin's reset, the generated first admin): until the user picks
-- a password of their own, their sessions may only read /api/me, change the password and sign out.
ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
