-- Tessera's schema for MySQL 8 and MariaDB 10.11 or later. Schema version 1.
--
-- Apply with `tessera migrate --config FILE` (idempotent; records the version in
-- `schema_version` and upgrades an older schema), or by hand:
--   mysql -h host -u user -p tessera < oauth-server.sql
-- Tessera checks `schema_version` at start-up and refuses a version it does not know.
-- Tables go into the database named in `store.mysql.url`. InnoDB, utf8mb4. Names that are
-- keys (client ids, usernames, setting names) are varbinary, UTF-8 bytes compared exactly:
-- a _bin collation would still ignore trailing spaces (PAD SPACE), so `svc ` and `svc`
-- would be one client.
--
-- No token is stored: every row is keyed by `token_hash`, the first 16 bytes of SHA-256 of
-- the token (or code, or session cookie), so a dump of these tables hands out nothing
-- usable. Times are Unix seconds (`*_ms`: milliseconds). Every token table has an index on
-- `expires_at` for the purge, which deletes expired rows in bounded batches
-- (`FOR UPDATE SKIP LOCKED`, at READ COMMITTED so no gap lock
-- holds up a token insert), one node at a time (the `leases` row `purge`).

-- The five token tables share one layout. `grant_id` ties a refresh token to the access
-- tokens issued under it (RFC 7009 section 2.1 cascade: deleted together by grant_id; 0 for
-- no grant). `metadata` holds the name/value metadata stored with the token, as JSON.
CREATE TABLE IF NOT EXISTS access_tokens (
  token_hash varbinary(16) NOT NULL PRIMARY KEY,
  grant_id bigint NOT NULL,
  client_id varchar(255) NOT NULL,
  user_name varchar(255),
  scope text NOT NULL,
  metadata text,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  KEY access_tokens_expires_at (expires_at),
  KEY access_tokens_grant_id (grant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Refresh tokens, each the head of its grant.
CREATE TABLE IF NOT EXISTS refresh_tokens (
  token_hash varbinary(16) NOT NULL PRIMARY KEY,
  grant_id bigint NOT NULL,
  client_id varchar(255) NOT NULL,
  user_name varchar(255),
  scope text NOT NULL,
  metadata text,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  KEY refresh_tokens_expires_at (expires_at),
  KEY refresh_tokens_grant_id (grant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Authorization codes waiting to be redeemed (RFC 6749 section 4.1.2). `grant_id` is the
-- grant the tokens issued from the code will share; `metadata` holds the redirect URI, the
-- PKCE challenge, the nonce and auth_time.
CREATE TABLE IF NOT EXISTS authorization_codes (
  token_hash varbinary(16) NOT NULL PRIMARY KEY,
  grant_id bigint NOT NULL,
  client_id varchar(255) NOT NULL,
  user_name varchar(255),
  scope text NOT NULL,
  metadata text,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  KEY authorization_codes_expires_at (expires_at),
  KEY authorization_codes_grant_id (grant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Browser login sessions (key: hash of the session cookie; client_id is empty; issued_at
-- is the auth_time).
CREATE TABLE IF NOT EXISTS sessions (
  token_hash varbinary(16) NOT NULL PRIMARY KEY,
  grant_id bigint NOT NULL,
  client_id varchar(255) NOT NULL,
  user_name varchar(255),
  scope text NOT NULL,
  metadata text,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  KEY sessions_expires_at (expires_at),
  KEY sessions_grant_id (grant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A user's consent to a client's scope, remembered until it expires.
CREATE TABLE IF NOT EXISTS consents (
  token_hash varbinary(16) NOT NULL PRIMARY KEY,
  grant_id bigint NOT NULL,
  client_id varchar(255) NOT NULL,
  user_name varchar(255),
  scope text NOT NULL,
  metadata text,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  KEY consents_expires_at (expires_at),
  KEY consents_grant_id (grant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The used-refresh-token memory: single-use keys that were used (refresh tokens under the
-- `rotate` and `none` policies, redeemed codes, assertion ids). A use is claimed by
-- inserting the key (the primary key decides: of concurrent uses on any nodes exactly one
-- inserts) in the same statement that deletes the token, and kept until the token would
-- have expired, so a later use is recognised as reuse and revokes the grant (RFC 9700
-- section 4.14.2).
CREATE TABLE IF NOT EXISTS used_tokens (
  token_hash varbinary(16) NOT NULL PRIMARY KEY,
  grant_id bigint NOT NULL,
  expires_at bigint NOT NULL,
  KEY used_tokens_expires_at (expires_at)
) ENGINE=InnoDB;

-- The revocation log: every revoked token (token_hash) or grant (grant_id), which the other
-- nodes poll to drop it from memory within `revocation_propagation_ms`. `at_ms` is the
-- revoking node's clock. Entries are purged after a day.
CREATE TABLE IF NOT EXISTS revocations (
  id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at_ms bigint NOT NULL,
  token_hash varbinary(16),
  grant_id bigint,
  KEY revocations_at_ms (at_ms)
) ENGINE=InnoDB;

-- Clients managed with `tessera client add|remove`: the spec is the client's settings as
-- JSON with the same keys as a `[[clients]]` table of the configuration (the secret only
-- as `secret_hash`).
CREATE TABLE IF NOT EXISTS clients (
  id varbinary(255) NOT NULL PRIMARY KEY,
  spec mediumtext NOT NULL,
  updated_at_ms bigint NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Resource owners managed with `tessera user add|remove`: the spec holds `password_hash`
-- (argon2id PHC string), never a password.
CREATE TABLE IF NOT EXISTS users (
  username varbinary(255) NOT NULL PRIMARY KEY,
  spec mediumtext NOT NULL,
  updated_at_ms bigint NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Small named values every node shares: the OpenID Connect signing keys (name
-- `oidc.signing_keys`, JSON). Written only by compare-and-set (`revision` changes on every
-- write), so of racing writers exactly one wins.
CREATE TABLE IF NOT EXISTS settings (
  name varbinary(255) NOT NULL PRIMARY KEY,
  value mediumtext NOT NULL,
  revision bigint NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Leases: which node runs a cluster-wide chore (`purge`) until when. A node takes or
-- renews a lease with one conditional UPDATE; the others skip the chore meanwhile.
CREATE TABLE IF NOT EXISTS leases (
  name varbinary(255) NOT NULL PRIMARY KEY,
  holder varchar(255) NOT NULL,
  until_ms bigint NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO leases (name, holder, until_ms) VALUES ('purge', '', 0);

-- The version of this schema. `tessera migrate` upgrades from any older version and
-- refuses a newer one.
-- (One row; applying this file over an older schema leaves its version as it was, so the
-- next start-up names it and `tessera migrate` upgrades it.)
CREATE TABLE IF NOT EXISTS schema_version (
  id integer NOT NULL PRIMARY KEY,
  version integer NOT NULL
) ENGINE=InnoDB;
INSERT IGNORE INTO schema_version (id, version) VALUES (1, 1);
