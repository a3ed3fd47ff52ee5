-- One round trip where a sign-in attempt made several (issue #21). A lock and the reads it guards
-- cannot share one plain statement: in READ COMMITTED a statement's snapshot is taken before it
-- waits for a lock, so it would read what was committed before the previous holder wrote. Inside a
-- VOLATILE function each statement takes a fresh snapshot, so these functions lock first and then
-- read what the previous holder committed, in one statement sent by the store. Only functions and a
-- view: instances still running the code of 007 keep working beside them (same lock keys).

-- A user as the store reads it: the row, the live set and its codes (in number order), one snapshot.
-- A column added to users later is added here too (CREATE OR REPLACE VIEW, at the end of the list).
CREATE VIEW user_records AS
  SELECT u.id, u.created_seq, u.username, u.role, u.password_hash, u.created_at, u.mfa_type,
         u.totp_secret, u.mfa_enrolled, u.mfa_configure_later, u.totp_last_step,
         u.must_change_password, u.mfa_failures, u.mfa_locked_until, u.mfa_locks,
         u.mfa_consecutive_failures, u.mfa_needs_admin_unlock, u.password_failures,
         u.password_locked_until, u.password_locks, u.password_consecutive_failures,
         u.password_needs_admin_unlock, s.set_id, s.salt, s.generated_at,
         (SELECT json_agg(json_build_object('number', c.number, 'digest', c.digest, 'usedAt', c.used_at)
                          ORDER BY c.number)
            FROM backup_codes c WHERE c.user_id = u.id) AS codes
    FROM users u LEFT JOIN backup_code_sets s ON s.user_id = u.id;

-- updateUser's first statement: the user's row locked until the transaction ends, then the record
-- read after the lock is granted (so a code spent by the previous holder is seen spent). No row: no
-- such user (or deleted while this one waited).
CREATE FUNCTION sparekey_lock_user(p_id text) RETURNS SETOF user_records
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM 1 FROM users WHERE id = p_id FOR UPDATE;
  RETURN QUERY SELECT * FROM user_records WHERE id = p_id;
END
$$;

-- The per-address throttle's reservation, in its own (implicit) transaction: the address's lock
-- (key space "SPIP", 0x53504950, as before 008), then its attempts before p_since pruned, the rest
-- counted and, if fewer than p_limit (NULL: no limit), one more recorded. The lock is held until the
-- statement commits, so concurrent reservations on any instance never all see room for one more.
CREATE FUNCTION sparekey_reserve_ip_attempt(
  p_ip_hash text, p_since timestamptz, p_limit integer, p_at timestamptz
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  recent integer;
BEGIN
  PERFORM pg_advisory_xact_lock(1397770576, hashtext(p_ip_hash));
  DELETE FROM ip_failures WHERE ip_hash = p_ip_hash AND at < p_since;
  SELECT count(*) INTO recent FROM ip_failures WHERE ip_hash = p_ip_hash AND at >= p_since;
  IF p_limit IS NOT NULL AND recent >= p_limit THEN
    RETURN false;
  END IF;
  INSERT INTO ip_failures (ip_hash, at) VALUES (p_ip_hash, p_at);
  RETURN true;
END
$$;

-- Gives back exactly one reservation of the address at p_at, under the same lock: two releases of
-- two reservations made in the same millisecond each find a row the other has not taken.
CREATE FUNCTION sparekey_release_ip_attempt(p_ip_hash text, p_at timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1397770576, hashtext(p_ip_hash));
  DELETE FROM ip_failures
   WHERE ctid = (SELECT ctid FROM ip_failures WHERE ip_hash = p_ip_hash AND at = p_at LIMIT 1);
END
$$;

-- updateUnknownNameLockout's first statement: the name's lock (key space "SPUN", 0x5350554e, as
-- before 008) until the transaction ends, then its lockout read after the lock is granted (NULL:
-- never tried).
CREATE FUNCTION sparekey_lock_unknown_name(p_name_hash text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1397773646, hashtext(p_name_hash));
  RETURN (SELECT lockout FROM unknown_name_lockouts WHERE name_hash = p_name_hash);
END
$$;
