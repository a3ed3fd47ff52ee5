-- The storage key check (issue #20, docs/SECURITY.md "Secrets at rest"): the id of the key the sealed
-- values (users.totp_secret, oidc_keys.keys) are under, and during a rekey the id of the key being
-- replaced. No row: the store was never opened with a key; the first start with one records it and
-- seals the clear values already there.
CREATE TABLE storage_key (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  key_id text NOT NULL,
  previous_key_id text,
  changed_at timestamptz NOT NULL DEFAULT now()
);
