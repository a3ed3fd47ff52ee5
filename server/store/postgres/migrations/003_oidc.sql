-- The OpenID Connect provider (issue #10): applications, the shared keys, the provider's records.

CREATE TABLE applications (
  id text PRIMARY KEY,
  -- Listing order, as the lowdb store lists them.
  created_seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  client_id text NOT NULL UNIQUE,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('confidential', 'public')),
  redirect_uris text[] NOT NULL,
  post_logout_redirect_uris text[] NOT NULL,
  -- SHA-256 (hex) of the client secret; the secret itself is never kept.
  secret_hash text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Signing keys and cookie secrets every instance shares: one row, changed under FOR UPDATE. keys is
-- NULL until the first set is made: the row exists so that even the first change has a row to lock.
CREATE TABLE oidc_keys (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  keys jsonb
);

-- oidc-provider's records (Session, Grant, AuthorizationCode, AccessToken, …) by (model, sha256(id)):
-- the id is often a bearer value, so only its hash is a column and the payload holds no jti.
CREATE TABLE oidc_records (
  model text NOT NULL,
  id_hash text NOT NULL,
  payload jsonb NOT NULL,
  uid text,
  user_code text,
  grant_id text,
  expires_at timestamptz,
  -- Set once, by the one oidcConsume that wins (UPDATE … WHERE consumed_at IS NULL).
  consumed_at timestamptz,
  -- The database's clock: the newest of two records with one uid wins a find.
  written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (model, id_hash)
);
CREATE INDEX oidc_records_uid ON oidc_records (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_records_user_code ON oidc_records (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_records_grant ON oidc_records (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_records_expiry ON oidc_records (expires_at) WHERE expires_at IS NOT NULL;
