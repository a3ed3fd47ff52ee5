/** What the PostgreSQL server tests start servers with. */

/** Cheap argon2id: these tests are about the store, not the hash's cost. */
export const FAST_ARGON2 = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/** The environment of a server on `databaseUrl`. */
export function postgresEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, ...FAST_ARGON2, ...extra };
}
