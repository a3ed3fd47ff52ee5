/**
 * The backup archive: gzip of JSON lines, one record each, in an order a restore can replay.
 *
 *   {"format":"sparekey-backup","version":1,"createdAt":"..."}
 *   {"kind":"policy","policy":{...}}
 *   {"kind":"user","user":{...}}            one per account, as it stood when the backup read it
 *   {"kind":"damaged","account":{...}}      an account whose record could not be read (not restorable)
 *   {"kind":"audit","event":{...}}          oldest first
 *   {"kind":"end","counts":{...},"sha256":"<hex of every byte before this line>"}
 *
 * Records, not files: the archive does not depend on the lowdb layout, and a truncated or altered
 * archive fails its trailer before anything is restored. Sessions, challenges and per-address
 * failures are not kept: after a restore everyone signs in again.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { z } from 'zod';
import { type AuditEvent, DamagedAccount, type Policy } from '../../shared/api';
import { nodeFs, syncDirectory } from './fs';
import { AuditEventSchema, PolicySchema, UserRecordSchema } from './records';
import type { DamagedAccount as DamagedAccountRecord, UserRecord } from './types';

export type BackupItem =
  | { kind: 'policy'; policy: Policy }
  | { kind: 'user'; user: UserRecord }
  | { kind: 'damaged'; account: DamagedAccountRecord }
  | { kind: 'audit'; event: AuditEvent };

export interface BackupCounts {
  users: number;
  damaged: number;
  audit: number;
}

const FORMAT = 'sparekey-backup';
const Header = z.object({ format: z.literal(FORMAT), version: z.literal(1), createdAt: z.string() });
const Item = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('policy'), policy: PolicySchema }),
  z.object({ kind: z.literal('user'), user: UserRecordSchema }),
  z.object({ kind: z.literal('damaged'), account: DamagedAccount }),
  z.object({ kind: z.literal('audit'), event: AuditEventSchema }),
]);
const Trailer = z.object({
  kind: z.literal('end'),
  counts: z.object({ users: z.number(), damaged: z.number(), audit: z.number() }),
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
  const counts: BackupCounts = { users: 0, damaged: 0, audit: 0 };
  const line = (value: unknown) => {
    const bytes = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
    hash.update(bytes);
    return bytes;
  };
  const gzip = createGzip();
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const write = (bytes: Buffer) =>
    new Promise<void>((done, fail) => gzip.write(bytes, (error) => (error ? fail(error) : done())));
  await write(line({ format: FORMAT, version: 1, createdAt: now.toISOString() }));
  for await (const item of items) {
    if (item.kind === 'user') counts.users++;
    if (item.kind === 'damaged') counts.damaged++;
    if (item.kind === 'audit') counts.audit++;
    await write(line(item));
    if (out.length > 0) yield Buffer.concat(out.splice(0));
  }
  const trailer = Buffer.from(`${JSON.stringify({ kind: 'end', counts, sha256: hash.digest('hex') })}\n`);
  await new Promise<void>((done) => gzip.end(trailer, done));
  await new Promise<void>((done) => (gzip.readableEnded ? done() : gzip.once('end', done)));
  if (out.length > 0) yield Buffer.concat(out.splice(0));
}

/** Writes an archive to `path` durably: a temp file beside it, fsynced, renamed into place. */
export async function writeArchive(chunks: AsyncIterable<Buffer> | Readable, path: string): Promise<void> {
  const temp = `${path}.partial`;
  try {
    await pipeline(chunks, createWriteStream(temp, { mode: 0o600 }));
    const handle = await open(temp, 'r');
    await handle.sync();
    await handle.close();
    await rename(temp, path);
    await syncDirectory(nodeFs, dirname(path));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * The records of an archive, checked line by line; the trailer's checksum and counts are checked at
 * the end, so a caller that must not act on a damaged archive reads it once with verifyArchive first.
 */
export async function* readArchive(path: string): AsyncGenerator<BackupItem> {
  const hash = createHash('sha256');
  const counts: BackupCounts = { users: 0, damaged: 0, audit: 0 };
  const input = createReadStream(path).pipe(createGunzip());
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
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
      if (item.data.kind === 'user') counts.users++;
      if (item.data.kind === 'damaged') counts.damaged++;
      if (item.data.kind === 'audit') counts.audit++;
      yield item.data as BackupItem;
    }
  } catch (error) {
    if (error instanceof BackupUnreadableError) throw error;
    throw new BackupUnreadableError(path, error instanceof Error ? error.message : String(error));
  }
  if (!trailer) throw new BackupUnreadableError(path, 'it ends early (no end record)');
  if (trailer.sha256 !== hash.digest('hex')) throw new BackupUnreadableError(path, 'checksum mismatch');
  const expected = trailer.counts;
  if (
    expected.users !== counts.users ||
    expected.audit !== counts.audit ||
    expected.damaged !== counts.damaged
  ) {
    throw new BackupUnreadableError(path, 'its counts do not match its records');
  }
}

function parseLine(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BackupUnreadableError(path, 'a line is not JSON');
  }
}

/** Reads the whole archive once: its counts if it is complete and intact, else BackupUnreadableError. */
export async function verifyArchive(path: string): Promise<BackupCounts> {
  const counts: BackupCounts = { users: 0, damaged: 0, audit: 0 };
  for await (const item of readArchive(path)) {
    if (item.kind === 'user') counts.users++;
    if (item.kind === 'damaged') counts.damaged++;
    if (item.kind === 'audit') counts.audit++;
  }
  return counts;
}
