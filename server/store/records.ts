/**
 * The shapes of what the lowdb store keeps on disk, checked on every read: a file that parses but
 * holds something else must be refused, never handed to the services as a record.
 * `satisfies` ties each schema to its type in ./types, so a field added there fails to compile here.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AuditEvent, MfaType, Policy, Role } from '../../shared/api';
import type {
  ApplicationRecord,
  BackupCodeSet,
  Lockout,
  MfaRecord,
  OidcKeys,
  TokenRecord,
  UserRecord,
} from './types';

// Loose objects keep fields this version does not know, so an older build never drops a newer one's data.
const MfaRecordSchema = z.looseObject({
  type: MfaType,
  secret: z.string().nullable(),
  enrolled: z.boolean(),
  configureLater: z.boolean(),
  lastStep: z.number().nullable(),
}) satisfies z.ZodType<MfaRecord>;

const BackupCodeSetSchema = z.looseObject({
  id: z.string(),
  salt: z.string(),
  generatedAt: z.string(),
  codes: z.array(
    z.looseObject({ number: z.number().int(), digest: z.string().nullable(), usedAt: z.string().nullable() }),
  ),
}) satisfies z.ZodType<BackupCodeSet>;

export const LockoutSchema = z.looseObject({
  failures: z.array(z.string()),
  lockedUntil: z.string().nullable(),
  locks: z.number().int().min(0),
  consecutiveFailures: z.number().int().min(0),
  needsAdminUnlock: z.boolean(),
}) satisfies z.ZodType<Lockout>;

export const OPEN_LOCKOUT: Lockout = {
  failures: [],
  lockedUntil: null,
  locks: 0,
  consecutiveFailures: 0,
  needsAdminUnlock: false,
};

/**
 * Records written before lockouts escalated held `mfaFailures` and `mfaLockedUntil` and no password
 * lockout: read them as the equivalent lockouts, so an account locked at the upgrade stays locked.
 */
function upgradeLockouts(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || 'mfaLockout' in raw) return raw;
  const { mfaFailures, mfaLockedUntil, ...rest } = raw as Record<string, unknown>;
  return {
    ...rest,
    mfaLockout: {
      ...OPEN_LOCKOUT,
      failures: Array.isArray(mfaFailures) ? mfaFailures : [],
      lockedUntil: typeof mfaLockedUntil === 'string' ? mfaLockedUntil : null,
    },
    passwordLockout: OPEN_LOCKOUT,
  };
}

const CurrentUserRecordSchema = z.looseObject({
  id: z.string(),
  username: z.string(),
  role: Role,
  passwordHash: z.string(),
  createdAt: z.string(),
  mfa: MfaRecordSchema,
  backupCodes: BackupCodeSetSchema.nullable(),
  passwordLockout: LockoutSchema,
  mfaLockout: LockoutSchema,
  mustChangePassword: z.boolean().optional(),
}) satisfies z.ZodType<UserRecord>;

export const UserRecordSchema = z.preprocess(upgradeLockouts, CurrentUserRecordSchema);

export const TokenRecordSchema = z.looseObject({
  hash: z.string(),
  kind: z.enum(['session', 'mfa']),
  userId: z.string(),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  expiresAt: z.string(),
  pendingSecret: z.string().nullable().optional(),
  mfaFingerprint: z.string().nullable().optional(),
  mfaPassed: z.enum(['none', 'totp', 'backup_code', 'enrolment']).optional(),
}) satisfies z.ZodType<TokenRecord>;

export const PolicySchema = Policy;

/** An OIDC application, checked before either store writes one. */
export const ApplicationSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  name: z.string(),
  type: z.enum(['confidential', 'public']),
  redirectUris: z.array(z.string()),
  postLogoutRedirectUris: z.array(z.string()),
  secretHash: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
}) satisfies z.ZodType<ApplicationRecord>;

/** The OIDC signing keys and cookie secrets, checked before either store writes them. */
export const KeysSchema = z.object({
  signing: z.array(
    z.object({
      kid: z.string(),
      jwk: z.record(z.string(), z.unknown()),
      createdAt: z.string(),
      retiredAt: z.string().nullable(),
    }),
  ),
  cookieSecrets: z.array(z.string()),
}) satisfies z.ZodType<OidcKeys>;

/** The key set as a store keeps it: sealed under the storage key, or clear from before the store had one. */
export const StoredKeysSchema = z.union([z.object({ sealed: z.string() }).strict(), KeysSchema]);

/** One row of the user index: what listing, counting and sign-in by name need without opening a file. */
export const IndexEntrySchema = z.object({
  id: z.string(),
  username: z.string(),
  /** The username lower-cased: "Alice" and "alice" are one account. */
  key: z.string(),
  role: Role,
});
export type IndexEntry = z.infer<typeof IndexEntrySchema>;

export const IndexFileSchema = z.object({ version: z.literal(1), users: z.array(IndexEntrySchema) });
export type IndexFile = z.infer<typeof IndexFileSchema>;

/** A line of the index journal: an entry written or removed since the last snapshot. */
export const IndexChangeSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('put'), entry: IndexEntrySchema }),
  z.object({ op: z.literal('delete'), id: z.string() }),
]);
export type IndexChange = z.infer<typeof IndexChangeSchema>;

export const IpFailuresSchema = z.object({ failures: z.array(z.string()) });
export type IpFailures = z.infer<typeof IpFailuresSchema>;

export interface UnknownName {
  lockout: Lockout;
}
export const UnknownNameSchema = z.object({ lockout: LockoutSchema }) satisfies z.ZodType<UnknownName>;

export const AuditEventSchema = AuditEvent;

/** Turns a zod schema into the parse function DurableJsonFile wants, with a one-line reason on failure. */
export function parserFor<T>(schema: z.ZodType<T>): (raw: unknown) => T {
  return (raw) => {
    const result = schema.safeParse(raw);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    throw new Error(issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unexpected content');
  };
}

export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/** How both stores key an unknown name's lockout: its hash, since the lockout only needs to match it. */
export function unknownNameKey(username: string): string {
  return createHash('sha256').update(usernameKey(username)).digest('hex');
}

/**
 * Every stored JSON record (a file, or one line of a log) is sealed with a checksum, so damage a
 * parse cannot see (a flipped byte inside a string, a hash cut short) is found on read:
 *
 *   {"sum":"<first 16 hex of SHA-256 of the record's JSON>", ...the record's own fields}
 *
 * The seal is the first field, fixed width, so it is checked on the raw text (no re-serialising)
 * and the record stays one JSON object any JSON reader understands. 64 bits find damage, not an
 * attacker: whoever can write the files can recompute the sum.
 *
 * Records written before seals existed have none. They are still read (a store written by the
 * previous version must open) and get their seal on their next write, or all at once with
 * `npm run store:check -- --repair`. No unsealed record starts with a key of three characters, so a
 * sealed record whose `"sum"` key was damaged is still recognised as sealed and refused.
 */
const SEAL_PREFIX = '{"sum":"';
const SUM_LENGTH = 16;
/** `{"sum":"` + 16 hex + `",` : where the record's own fields start. */
const SEALED_AT = SEAL_PREFIX.length + SUM_LENGTH + 2;
/** The shape of a seal, whatever its letters: `{"xxx":"<16 chars>",`. */
const SEAL_SHAPE = /^\{"[^"]{3}":"[^"]{16}",/;

export class ChecksumError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ChecksumError';
  }
}

function sumOf(json: string): string {
  return createHash('sha256').update(json, 'utf8').digest('hex').slice(0, SUM_LENGTH);
}

/**
 * JSON text safe to keep as one line for any reader: JSON.stringify escapes the ASCII controls but
 * leaves U+0085 (NEL), U+2028 and U+2029 as they are, which many line readers (and JavaScript
 * before ES2019) split lines on. A `User-Agent` holding one must not cut an audit line in two.
 */
export function lineJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u0085\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The sealed text of one record's JSON (an object, as JSON.stringify wrote it). */
export function seal(json: string): string {
  if (!json.startsWith('{') || !json.endsWith('}')) throw new Error('Only a JSON object can be sealed.');
  const rest = json.length === 2 ? '}' : `,${json.slice(1)}`;
  return `${SEAL_PREFIX}${sumOf(json)}"${rest}`;
}

/**
 * The record's own JSON from a stored text, checked against its seal. `sealed` is false for a
 * record written before seals (read as it is). Throws ChecksumError when the seal does not match.
 */
export function unseal(text: string): { json: string; sealed: boolean } {
  if (!SEAL_SHAPE.test(text) && !text.startsWith(`${SEAL_PREFIX}`)) return { json: text, sealed: false };
  if (!text.startsWith(SEAL_PREFIX) || text[SEAL_PREFIX.length + SUM_LENGTH] !== '"') {
    throw new ChecksumError('its checksum field is damaged');
  }
  const sum = text.slice(SEAL_PREFIX.length, SEAL_PREFIX.length + SUM_LENGTH);
  const after = text[SEAL_PREFIX.length + SUM_LENGTH + 1];
  if (after !== ',' && !(after === '}' && text.length === SEALED_AT)) {
    throw new ChecksumError('its checksum field is damaged');
  }
  const json = after === '}' ? '{}' : `{${text.slice(SEALED_AT)}`;
  if (sumOf(json) !== sum) throw new ChecksumError('checksum mismatch');
  return { json, sealed: true };
}

/**
 * Freezes `value` and everything inside it, so that a record kept in memory can be handed out as it
 * is: a reader that tried to change it would throw (module code is strict) instead of changing it.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
