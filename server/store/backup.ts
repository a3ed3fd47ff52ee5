/**
 * The backup archive: gzip of JSON lines, one record each, in an order a restore can replay.
 *
 *   {"format":"sparekey-backup","version":3,"createdAt":"..."}
 *   {"kind":"sealed_under","keyId":"..."}    the storage key the secrets below are sealed under (if any)
 *   {"kind":"policy","policy":{...}}
 *   {"kind":"application","application":{...}}  one per OpenID Connect application (secret as its hash)
 *   {"kind":"oidc_keys_sealed","sealed":"..."}  the provider's signing keys and cookie secrets, sealed
 *   {"kind":"oidc_keys","keys":{...}}       the same in clear, from a store that has no storage key
 *   {"kind":"user","user":{...}}            one per account, as it stood when the backup read it
 *   {"kind":"damaged","account":{...}}      an account whose record could not be read (not restorable)
 *   {"kind":"audit","event":{...}}          oldest first
 *   {"kind":"end","counts":{...},"sha256":"<hex of every byte before this line>"}
 *
 * Records, not files: the archive does not depend on the lowdb layout, and a truncated or altered
 * archive fails its trailer before anything is restored. Sessions, challenges and per-address
 * failures are not kept: after a restore everyone signs in again. Nor are the OpenID Connect
 * provider's records (its sessions, grants, codes and tokens): they live minutes to hours, and a
 * restore is the moment to end them; applications sign their users in again, with the same client
 * ids, secrets and keys, so tokens signed before the backup still verify. Version 1 archives (before
 * applications and keys were kept) and version 2 (before secrets were sealed) are still read.
 *
 * Secrets stay sealed under the store's storage key (docs/SECURITY.md, "Secrets at rest"): a TOTP
 * secret in a user line and the key set are the sealed texts the store holds, so an archive kept
 * without age encryption holds no secret in clear either, and a restore opens them with its own
 * storage key, which must be the one the archive names (openSealedItems).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { createGunzip, createGzip } from 'node:zlib';
import { z } from 'zod';
import { type AuditEvent, DamagedAccount, type Policy } from '../../shared/api';
import { archiveBytes, type BackupIdentities } from './backup-encryption';
import {
  ApplicationSchema,
  AuditEventSchema,
  KeysSchema,
  lineJson,
  PolicySchema,
  UserRecordSchema,
} from './records';
import { writeSecretFile } from './secret-file';
import { StorageKeyMismatchError, StorageKeyMissingError, type StoreSecrets } from './secrets';
import type {
  ApplicationRecord,
  DamagedAccount as DamagedAccountRecord,
  OidcKeys,
  UserRecord,
} from './types';

export type BackupItem =
  | { kind: 'sealed_under'; keyId: string }
  | { kind: 'policy'; policy: Policy }
  | { kind: 'application'; application: ApplicationRecord }
  | { kind: 'oidc_keys'; keys: OidcKeys }
  | { kind: 'oidc_keys_sealed'; sealed: string }
  | { kind: 'user'; user: UserRecord }
  | { kind: 'damaged'; account: DamagedAccountRecord }
  | { kind: 'audit'; event: AuditEvent };

export interface BackupCounts {
  users: number;
  damaged: number;
  audit: number;
  applications: number;
  /** 1 when the OpenID Connect key set is in the archive (a store that never served OIDC has none). */
  oidcKeys: number;
}

export const emptyCounts = (): BackupCounts => ({
  users: 0,
  damaged: 0,
  audit: 0,
  applications: 0,
  oidcKeys: 0,
});

/** What one archive item adds to the counts: the one place archive, read, verify and restore count. */
export function countItem(counts: BackupCounts, item: BackupItem): void {
  if (item.kind === 'user') counts.users++;
  if (item.kind === 'damaged') counts.damaged++;
  if (item.kind === 'audit') counts.audit++;
  if (item.kind === 'application') counts.applications++;
  if (item.kind === 'oidc_keys' || item.kind === 'oidc_keys_sealed') counts.oidcKeys++;
}

/** ", with 2 OpenID Connect application(s) and the signing keys" for the commands' one-line summaries. */
export function oidcSummary(counts: BackupCounts): string {
  if (counts.applications === 0 && counts.oidcKeys === 0) return '';
  return `, with ${counts.applications} OpenID Connect application(s)${counts.oidcKeys > 0 ? ' and the signing keys' : ''}`;
}

const FORMAT = 'sparekey-backup';
const VERSION = 3;
const Header = z.object({
  format: z.literal(FORMAT),
  version: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  createdAt: z.string(),
});
const Item = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sealed_under'), keyId: z.string().min(1) }),
  z.object({ kind: z.literal('policy'), policy: PolicySchema }),
  z.object({ kind: z.literal('application'), application: ApplicationSchema }),
  z.object({ kind: z.literal('oidc_keys'), keys: KeysSchema }),
  z.object({ kind: z.literal('oidc_keys_sealed'), sealed: z.string().min(1) }),
  z.object({ kind: z.literal('user'), user: UserRecordSchema }),
  z.object({ kind: z.literal('damaged'), account: DamagedAccount }),
  z.object({ kind: z.literal('audit'), event: AuditEventSchema }),
]);
const Trailer = z.object({
  kind: z.literal('end'),
  // A version 1 archive counts no applications and no keys.
  counts: z.object({
    users: z.number(),
    damaged: z.number(),
    audit: z.number(),
    applications: z.number().default(0),
    oidcKeys: z.number().default(0),
  }),
  sha256: z.string(),
});

export class BackupUnreadableError extends Error {
  constructor(path: string, reason: string) {
    super(`${path} is not a complete SpareKey backup: ${reason}`);
    this.name = 'BackupUnreadableError';
  }
}

/** The archive's bytes (gzip), from the records a store exports. */
export async function* archive(items: AsyncIterable<BackupItem>, now = new Date()): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const counts = emptyCounts();
  const line = (value: unknown) => {
    const bytes = Buffer.from(`${lineJson(value)}\n`, 'utf8');
    hash.update(bytes);
    return bytes;
  };
  const gzip = createGzip();
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const write = (bytes: Buffer) =>
    new Promise<void>((done, fail) => gzip.write(bytes, (error) => (error ? fail(error) : done())));
  await write(line({ format: FORMAT, version: VERSION, createdAt: now.toISOString() }));
  for await (const item of items) {
    countItem(counts, item);
    await write(line(item));
    if (out.length > 0) yield Buffer.concat(out.splice(0));
  }
  const trailer = Buffer.from(`${JSON.stringify({ kind: 'end', counts, sha256: hash.digest('hex') })}\n`);
  await new Promise<void>((done) => gzip.end(trailer, done));
  await new Promise<void>((done) => (gzip.readableEnded ? done() : gzip.once('end', done)));
  if (out.length > 0) yield Buffer.concat(out.splice(0));
}

/**
 * Writes an archive to `path` durably and privately: it holds password hashes, TOTP secrets and the
 * provider's private keys, so it goes through writeSecretFile (exclusive temp file, 0600, rename).
 */
export async function writeArchive(chunks: AsyncIterable<Buffer> | Readable, path: string): Promise<void> {
  await writeSecretFile(path, chunks);
}

/**
 * The archive's bytes passed on unchanged while a second reader checks them as a restore would
 * (header, every record, the trailer's checksum and counts); `counts` settles once they are all read.
 * When the check fails, `bytes` throws instead of ending, so writeSecretFile removes its temp file and
 * never renames a damaged archive into place. The check reads the plain bytes on their way because an
 * encrypted archive cannot be read back without its identity, which the host taking backups should
 * not hold.
 */
export function checkedOnTheWay(
  chunks: AsyncIterable<Buffer>,
  label: string,
): { bytes: AsyncGenerator<Buffer>; counts: Promise<BackupCounts> } {
  const copy = new PassThrough();
  const counts = countItems(readArchiveBytes(copy, label));
  // Awaited below; this keeps a failure the reader meets before then from counting as unhandled.
  counts.catch(() => undefined);
  async function* bytes(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of chunks) {
        // The reader stops at a failure: its rejection ends a wait for room that would never come.
        if (!copy.write(chunk)) await Promise.race([once(copy, 'drain'), counts]);
        yield chunk;
      }
      copy.end();
      await counts;
    } finally {
      if (!copy.writableFinished) copy.destroy();
    }
  }
  return { bytes: bytes(), counts };
}

/**
 * The records of the archive at `path` (decrypted with `key` when it is age-encrypted), checked line by
 * line; the trailer's checksum and counts are checked at the end, so a caller that must not act on a
 * damaged archive reads it once with verifyArchive first.
 */
export async function* readArchive(
  path: string,
  key: BackupIdentities | null = null,
): AsyncGenerator<BackupItem> {
  // Outside readArchiveBytes: a missing or wrong identity is said as such, not as a damaged archive.
  yield* readArchiveBytes(await archiveBytes(path, key), path);
}

/** The archive's (gzip) bytes unpacked; an error of the source ends the unpacked stream with it. */
function gunzipped(bytes: AsyncIterable<Buffer>): Readable {
  const gunzip = createGunzip();
  pipeline(Readable.from(bytes), gunzip, () => undefined);
  return gunzip;
}

/** As readArchive, from the archive's plain bytes; `path` names the archive in errors. */
async function* readArchiveBytes(bytes: AsyncIterable<Buffer>, path: string): AsyncGenerator<BackupItem> {
  const hash = createHash('sha256');
  const counts = emptyCounts();
  const lines = linesOf(gunzipped(bytes), path);
  let header = false;
  let trailer: z.infer<typeof Trailer> | null = null;
  try {
    for await (const text of lines) {
      if (trailer) throw new BackupUnreadableError(path, 'data after its end');
      const raw = parseLine(path, text);
      if (!header) {
        if (!Header.safeParse(raw).success)
          throw new BackupUnreadableError(path, 'no SpareKey backup header');
        header = true;
        hash.update(`${text}\n`);
        continue;
      }
      if ((raw as { kind?: unknown }).kind === 'end') {
        const parsed = Trailer.safeParse(raw);
        if (!parsed.success) throw new BackupUnreadableError(path, 'its end record is damaged');
        trailer = parsed.data;
        continue;
      }
      hash.update(`${text}\n`);
      const item = Item.safeParse(raw);
      if (!item.success)
        throw new BackupUnreadableError(path, `a damaged ${String((raw as { kind?: unknown }).kind)} record`);
      countItem(counts, item.data as BackupItem);
      yield item.data as BackupItem;
    }
  } catch (error) {
    if (error instanceof BackupUnreadableError) throw error;
    throw new BackupUnreadableError(path, error instanceof Error ? error.message : String(error));
  }
  if (!trailer) throw new BackupUnreadableError(path, 'it ends early (no end record)');
  if (trailer.sha256 !== hash.digest('hex')) throw new BackupUnreadableError(path, 'checksum mismatch');
  if (!isDeepStrictEqual(trailer.counts, counts)) {
    throw new BackupUnreadableError(path, 'its counts do not match its records');
  }
}

/**
 * The longest line an archive may hold. Its records are an account (a few KiB with its codes and
 * tokens), an audit event, an application or the key set (a few RSA keys): a MiB leaves ample room,
 * and a damaged or hostile archive is refused after reading that much of one line, not all of it.
 */
export const MAX_LINE_BYTES = 1024 * 1024;

/** The text lines of a stream of bytes, refusing any longer than MAX_LINE_BYTES while reading it. */
async function* linesOf(input: AsyncIterable<Buffer>, path: string): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    let start = 0;
    for (;;) {
      // A newline byte never occurs inside a multi-byte UTF-8 character: splitting bytes is safe.
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      length += end - start;
      if (length > MAX_LINE_BYTES) {
        throw new BackupUnreadableError(path, `a line is longer than ${MAX_LINE_BYTES} bytes`);
      }
      parts.push(chunk.subarray(start, end));
      if (newline === -1) break;
      yield Buffer.concat(parts).toString('utf8');
      parts = [];
      length = 0;
      start = newline + 1;
    }
  }
  if (length > 0) yield Buffer.concat(parts).toString('utf8');
}

function parseLine(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BackupUnreadableError(path, 'a line is not JSON');
  }
}

/**
 * Reads the whole archive once: its counts if it is complete and intact, else BackupUnreadableError.
 * With `secrets`, every sealed value is opened too: a storage key that does not match refuses here,
 * before a restore writes anything.
 */
export function verifyArchive(
  path: string,
  key: BackupIdentities | null = null,
  secrets: StoreSecrets | null = null,
): Promise<BackupCounts> {
  const items = readArchive(path, key);
  return countItems(secrets ? openSealedItems(items, secrets) : items);
}

async function countItems(items: AsyncIterable<BackupItem>): Promise<BackupCounts> {
  const counts = emptyCounts();
  for await (const item of items) countItem(counts, item);
  return counts;
}

/** A restore whose storage key is not the one the archive's secrets are sealed under: one line. */
export class BackupKeyError extends Error {}

/**
 * The archive's items with their sealed secrets opened under the restoring process's storage key, as
 * the store then seals them again under its own. The archive names its key first: a process without
 * it refuses before any record is given out; a value that does not open (altered, or moved to
 * another account, since each is bound to its record's id) refuses too.
 */
export async function* openSealedItems(
  items: AsyncIterable<BackupItem>,
  secrets: StoreSecrets,
): AsyncGenerator<BackupItem> {
  let sealed = false;
  for await (const item of items) {
    if (item.kind === 'sealed_under') {
      try {
        secrets.verify({ keyId: item.keyId, previousKeyId: null });
      } catch (error) {
        if (error instanceof StorageKeyMismatchError) {
          throw new BackupKeyError(
            'the storage key does not match the backup: set STORAGE_ENCRYPTION_KEY(_FILE) to the key of the store it was taken from',
          );
        }
        if (error instanceof StorageKeyMissingError) {
          throw new BackupKeyError(
            "the backup's secrets are sealed under a storage key and none is set: set STORAGE_ENCRYPTION_KEY_FILE to the key of the store it was taken from (a generated one is that DATA_DIR's storage.key)",
          );
        }
        throw error;
      }
      sealed = true;
      continue;
    }
    if (!sealed) {
      if (item.kind === 'oidc_keys_sealed') {
        throw new BackupKeyError('the backup holds a sealed key set but names no storage key');
      }
      yield item;
      continue;
    }
    try {
      if (item.kind === 'oidc_keys_sealed') {
        yield { kind: 'oidc_keys', keys: KeysSchema.parse(secrets.openOidcKeys({ sealed: item.sealed })) };
      } else if (item.kind === 'user') {
        const secret = secrets.openTotpOf(item.user.id, item.user.mfa.secret);
        yield { kind: 'user', user: { ...item.user, mfa: { ...item.user.mfa, secret } } };
      } else {
        yield item;
      }
    } catch (error) {
      const what = item.kind === 'user' ? `the account ${item.user.username}` : 'the OpenID Connect key set';
      throw new BackupKeyError(
        `a sealed secret of ${what} in the backup does not open (${(error as Error).message})`,
      );
    }
  }
}
