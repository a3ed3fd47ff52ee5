/**
 * The OpenID Connect part of the lowdb store (see OidcStore in ./types), in its own directory:
 *
 *   oidc/applications.json     the registered applications (few; cached in memory)
 *   oidc/keys.json             signing keys and cookie secrets
 *   oidc/records/<h>.json      one file per provider record, h = sha256(model:id), so a bearer value
 *                              (an access token, a session cookie) is never a file name or content
 *   oidc/by-uid/<h>.json       h = sha256(model:uid) → the record's file name
 *   oidc/by-user-code/<h>.json the same for device-flow user codes
 *   oidc/grants/<h>.json       h = sha256(grantId) → the file names of the grant's records
 *   oidc/expiry/<end>.names    the records that expire before <end>, so a sweep reads only those
 *                              (./oidc-expiry.ts); `oidc/expiry/complete` says every record is listed
 *
 * Every file-system call goes through the store's StoreFs, so the power-loss test sees these writes
 * too; each write is atomic and durable (./durable-json-file.ts: temp file, fsync, rename, directory
 * fsync) and sealed with a checksum. Locks live in memory, like the rest of the store.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { sealedKeyId } from '../../crypto/sealing';
import { isMissing, nodeFs, recordNames, type StoreFs, syncDirectory } from '../fs';
import { ApplicationSchema, KeysSchema, parserFor, StoredKeysSchema } from '../records';
import type { SealedOidcKeys } from '../secrets';
import {
  type ApplicationRecord,
  type OidcKeys,
  type OidcPayload,
  type OidcStore,
  StoreDamagedError,
} from '../types';
import { CorruptFileError, DurableJsonFile, removeFileDurably, removeTempFiles } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { ExpiryIndex } from './oidc-expiry';
import { CLEAR, type UserSealing } from './users';

export const ApplicationsSchema = z.object({ applications: z.array(ApplicationSchema) });

export const RecordSchema = z.object({
  model: z.string(),
  payload: z.record(z.string(), z.unknown()),
  expiresAt: z.number().nullable(),
});
type StoredRecord = z.infer<typeof RecordSchema>;
export const PointerSchema = z.object({ name: z.string() });
export const MembersSchema = z.object({ names: z.array(z.string()) });

/** The files of DATA_DIR/oidc and what each holds, for the store and for `store:check`. */
export const OIDC_LAYOUT = {
  dir: 'oidc',
  applications: 'applications.json',
  keys: 'keys.json',
  /** Subdirectories of short-lived provider records and their indexes, one small file each. */
  records: {
    records: RecordSchema,
    'by-uid': PointerSchema,
    'by-user-code': PointerSchema,
    grants: MembersSchema,
  },
} as const;
/**
 * Written once every record on disk is in the expiry index: a store written before the index
 * existed gets one sweep that reads every record, then none again.
 */
const INDEX_COMPLETE = 'complete';

/** A grant's member list is pruned of names whose files are gone once it grows past this. */
const GRANT_PRUNE_AT = 64;
/** Record writes between two background sweeps of expired records. */
const SWEEP_EVERY = 500;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class LowdbOidcStore implements OidcStore {
  readonly #dir: string;
  readonly #recordsDir: string;
  readonly #uidDir: string;
  readonly #userCodeDir: string;
  readonly #grantsDir: string;
  readonly #expiry: ExpiryIndex;
  #unindexed = false;
  readonly #applicationsFile: DurableJsonFile<z.infer<typeof ApplicationsSchema>>;
  readonly #keysFile: DurableJsonFile<OidcKeys | SealedOidcKeys>;
  readonly #sealing: UserSealing;
  readonly #dataDir: string;
  readonly #fs: StoreFs;
  readonly #locks = new KeyedMutex();
  #applications: ApplicationRecord[] = [];
  #writes = 0;
  #sweeping: Promise<void> | null = null;

  constructor(dataDir: string, fs: StoreFs = nodeFs, sealing: UserSealing = CLEAR) {
    this.#sealing = sealing;
    this.#dataDir = dataDir;
    this.#fs = fs;
    this.#dir = join(dataDir, OIDC_LAYOUT.dir);
    const sub = (name: keyof typeof OIDC_LAYOUT.records) => join(this.#dir, name);
    this.#recordsDir = sub('records');
    this.#uidDir = sub('by-uid');
    this.#userCodeDir = sub('by-user-code');
    this.#grantsDir = sub('grants');
    this.#expiry = new ExpiryIndex(join(this.#dir, 'expiry'), fs, this.#locks);
    this.#applicationsFile = new DurableJsonFile(
      join(this.#dir, OIDC_LAYOUT.applications),
      parserFor(ApplicationsSchema),
      fs,
    );
    this.#keysFile = new DurableJsonFile(join(this.#dir, OIDC_LAYOUT.keys), parserFor(StoredKeysSchema), fs);
  }

  /** Throws CorruptFileError when applications.json is damaged: starting without the applications would be wrong. */
  async open(): Promise<void> {
    for (const dir of this.#directories()) await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // The new directories' entries are durable only once their parents are synced.
    await syncDirectory(this.#fs, this.#dir);
    await syncDirectory(this.#fs, this.#dataDir);
    await removeTempFiles(this.#dir, undefined, this.#fs);
    this.#applications = (await this.#applicationsFile.read())?.applications ?? [];
    // No write runs yet: every temp file is one a crash left behind (the sweep no longer lists these
    // directories, so it is done here, once the store is known to open).
    for (const dir of this.#directories().slice(1)) await removeTempFiles(dir, undefined, this.#fs);
    if (!(await this.#exists(join(this.#expiry.dir, INDEX_COMPLETE)))) {
      if ((await recordNames(this.#fs, this.#recordsDir)).length === 0) await this.#markIndexComplete();
      else this.#unindexed = true;
    }
  }

  #directories(): string[] {
    return [this.#dir, this.#recordsDir, this.#uidDir, this.#userCodeDir, this.#grantsDir, this.#expiry.dir];
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await this.#fs.stat(path);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async #markIndexComplete(): Promise<void> {
    const path = join(this.#expiry.dir, INDEX_COMPLETE);
    if (await this.#exists(path)) return;
    await (await this.#fs.open(path, 'wx', 0o600)).close();
    await syncDirectory(this.#fs, this.#expiry.dir);
  }

  async close(): Promise<void> {
    await this.#locks.idle();
    await this.#sweeping;
  }

  // -- applications --

  async listApplications(): Promise<ApplicationRecord[]> {
    return structuredClone(this.#applications);
  }

  async getApplication(id: string): Promise<ApplicationRecord | null> {
    return structuredClone(this.#applications.find((app) => app.id === id) ?? null);
  }

  async findApplicationByClientId(clientId: string): Promise<ApplicationRecord | null> {
    return structuredClone(this.#applications.find((app) => app.clientId === clientId) ?? null);
  }

  async createApplication(application: ApplicationRecord): Promise<void> {
    const record = ApplicationSchema.parse(structuredClone(application));
    await this.#changeApplications((apps) => {
      if (apps.some((app) => app.id === record.id || app.clientId === record.clientId)) {
        throw new Error('An application with this id or client id exists.');
      }
      return [...apps, record];
    });
  }

  async updateApplication(
    id: string,
    change: (application: ApplicationRecord) => ApplicationRecord,
  ): Promise<ApplicationRecord | null> {
    let updated: ApplicationRecord | null = null;
    await this.#changeApplications((apps) => {
      const current = apps.find((app) => app.id === id);
      if (!current) return null;
      const next = ApplicationSchema.parse(change(structuredClone(current)));
      if (next.id !== id || next.clientId !== current.clientId) {
        throw new Error('updateApplication cannot change an id or a client id.');
      }
      updated = next;
      return apps.map((app) => (app.id === id ? next : app));
    });
    return structuredClone(updated);
  }

  async deleteApplication(id: string): Promise<ApplicationRecord | null> {
    let removed: ApplicationRecord | null = null;
    await this.#changeApplications((apps) => {
      removed = apps.find((app) => app.id === id) ?? null;
      return removed ? apps.filter((app) => app.id !== id) : null;
    });
    return structuredClone(removed);
  }

  /** One change of the application list at a time; memory follows only once the file is durable. */
  #changeApplications(change: (apps: ApplicationRecord[]) => ApplicationRecord[] | null): Promise<void> {
    return this.#locks.run('applications', async () => {
      const next = change(structuredClone(this.#applications));
      if (!next) return;
      await this.#applicationsFile.write({ applications: next });
      this.#applications = next;
    });
  }

  // -- keys --

  async getOidcKeys(): Promise<OidcKeys | null> {
    return this.#readKeys();
  }

  updateOidcKeys(change: (current: OidcKeys | null) => OidcKeys | null): Promise<OidcKeys | null> {
    return this.#locks.run('keys', async () => {
      const current = await this.#readKeys();
      const next = change(structuredClone(current));
      if (!next) return current;
      const checked = KeysSchema.parse(next);
      await this.#keysFile.write(this.#sealing.secrets.sealOidcKeys(this.#sealing.keyId(), checked));
      return checked;
    });
  }

  /** The key set under the store's current key (the pass at open, a rekey); true when it was rewritten. */
  resealKeys(): Promise<boolean> {
    return this.#locks.run('keys', async () => {
      const keyId = this.#sealing.keyId();
      const stored = await this.#keysFile.read().catch(() => null);
      if (keyId === null || stored === null) return false;
      if ('sealed' in stored && sealedKeyId(stored.sealed) === keyId) return false;
      const clear = await this.#readKeys();
      if (!clear) return false;
      await this.#keysFile.write(this.#sealing.secrets.sealOidcKeys(keyId, clear));
      return true;
    });
  }

  /** A damaged key set is never replaced silently (tokens signed before would stop verifying): 503 until restored. */
  async #readKeys(): Promise<OidcKeys | null> {
    try {
      const stored = await this.#keysFile.read();
      return stored === null ? null : KeysSchema.parse(this.#sealing.secrets.openOidcKeys(stored));
    } catch (error) {
      if (error instanceof CorruptFileError)
        throw new StoreDamagedError('The OpenID Connect key set', error.message);
      throw error;
    }
  }

  // -- provider records --

  async oidcPut(model: string, id: string, payload: OidcPayload, expiresAt: number | null): Promise<void> {
    const name = recordName(model, id);
    // The id (often the bearer value itself) is the file name's preimage only: it is not written.
    const { jti: _jti, ...rest } = payload;
    const record: StoredRecord = { model, payload: rest, expiresAt };
    // Listed before it is written: a crash between the two leaves an entry the sweep skips, never a
    // record no sweep would find.
    if (expiresAt !== null) await this.#expiry.add(name, expiresAt);
    await this.#locks.run(name, () => this.#recordFile(name).write(record));
    if (typeof payload.uid === 'string') await this.#point(this.#uidDir, model, payload.uid, name);
    if (typeof payload.userCode === 'string') {
      await this.#point(this.#userCodeDir, model, payload.userCode, name);
    }
    if (typeof payload.grantId === 'string') await this.#addToGrant(payload.grantId, name);
    this.#countWrite();
  }

  async oidcGet(model: string, id: string): Promise<OidcPayload | null> {
    const record = await this.#readLive(recordName(model, id), model);
    return record ? { ...record.payload, jti: id } : null;
  }

  oidcFindByUid(model: string, uid: string): Promise<OidcPayload | null> {
    return this.#findBy(this.#uidDir, model, 'uid', uid);
  }

  oidcFindByUserCode(model: string, userCode: string): Promise<OidcPayload | null> {
    return this.#findBy(this.#userCodeDir, model, 'userCode', userCode);
  }

  oidcConsume(model: string, id: string, at: number): Promise<boolean> {
    const name = recordName(model, id);
    return this.#locks.run(name, async () => {
      const record = await this.#readLive(name, model);
      if (!record || record.payload.consumed !== undefined) return false;
      await this.#recordFile(name).write({ ...record, payload: { ...record.payload, consumed: at } });
      return true;
    });
  }

  async oidcDestroy(model: string, id: string): Promise<void> {
    await this.#removeRecord(recordName(model, id));
  }

  async oidcRevokeByGrantId(grantId: string): Promise<void> {
    const grantName = sha256(grantId);
    await this.#locks.run(`grant:${grantName}`, async () => {
      const members = await this.#readMembers(grantName);
      for (const name of members) await this.#removeRecord(name, undefined, { leaveGrant: false });
      await removeFileDurably(this.#grantPath(grantName), this.#fs);
    });
  }

  /**
   * Removes expired records (and their index files); resolves with how many records went. Reads only
   * the records the expiry index lists as expired by `now`, whatever the number of live ones.
   */
  async sweepExpired(now = Date.now()): Promise<number> {
    let removed = 0;
    if (this.#unindexed) {
      removed += await this.#sweepEveryRecord(now);
      await this.#markIndexComplete();
      this.#unindexed = false;
    }
    for (const end of await this.#expiry.expiredBuckets(now)) {
      for (const name of await this.#expiry.names(end)) {
        if (await this.#removeRecord(name, now)) removed++;
      }
      await this.#expiry.remove(end);
    }
    return removed;
  }

  /** Once, for records written before the expiry index: each is read, and listed or removed. */
  async #sweepEveryRecord(now: number): Promise<number> {
    let removed = 0;
    for (const name of await recordNames(this.#fs, this.#recordsDir)) {
      const record = await this.#readRecord(name);
      if (record?.expiresAt != null && record.expiresAt > now) await this.#expiry.add(name, record.expiresAt);
      if (record?.expiresAt === null) continue;
      if (await this.#removeRecord(name, now)) removed++;
    }
    for (const dir of [this.#uidDir, this.#userCodeDir]) {
      for (const pointer of await recordNames(this.#fs, dir)) {
        const target = await readOrNull(this.#pointerFile(join(dir, `${pointer}.json`)));
        if (!target || !(await this.#readRecord(target.name))) {
          await removeFileDurably(join(dir, `${pointer}.json`), this.#fs);
        }
      }
    }
    return removed;
  }

  /**
   * Removes a record and the uid and user-code pointers that lead to it; with `expiredBy`, only if it
   * has expired by then (or is damaged). Resolves with whether a record file went.
   */
  async #removeRecord(
    name: string,
    expiredBy?: number,
    { leaveGrant = true }: { leaveGrant?: boolean } = {},
  ): Promise<boolean> {
    const removed = await this.#locks.run(name, async () => {
      const record = await this.#readRecord(name);
      const expired = !record || (record.expiresAt !== null && record.expiresAt <= (expiredBy ?? 0));
      if (expiredBy !== undefined && !expired) return null;
      const gone = await removeFileDurably(this.#recordPath(name), this.#fs);
      for (const [dir, value] of [
        [this.#uidDir, record?.payload.uid],
        [this.#userCodeDir, record?.payload.userCode],
      ] as const) {
        if (record && typeof value === 'string') await this.#unpoint(dir, record.model, value, name);
      }
      return { gone, grantId: record?.payload.grantId };
    });
    if (!removed) return false;
    // Outside the record's lock: revoking a grant takes the grant's lock, then its records' locks.
    if (leaveGrant && typeof removed.grantId === 'string') await this.#leaveGrant(removed.grantId, name);
    return removed.gone;
  }

  /** A grant's member list loses a removed record; the last one takes the list's file with it. */
  async #leaveGrant(grantId: string, name: string): Promise<void> {
    const grantName = sha256(grantId);
    await this.#locks.run(`grant:${grantName}`, async () => {
      const names = await this.#readMembers(grantName);
      if (!names.includes(name)) return;
      const left = names.filter((member) => member !== name);
      if (left.length === 0) await removeFileDurably(this.#grantPath(grantName), this.#fs);
      else await this.#membersFile(grantName).write({ names: left });
    });
  }

  async #findBy(dir: string, model: string, field: string, value: string): Promise<OidcPayload | null> {
    const pointer = await readOrNull(this.#pointerFile(join(dir, `${sha256(`${model}:${value}`)}.json`)));
    if (!pointer) return null;
    const record = await this.#readLive(pointer.name, model);
    // The pointer may be stale (the record replaced by one with another value): check the field.
    return record && record.payload[field] === value ? { ...record.payload } : null;
  }

  async #point(dir: string, model: string, value: string, name: string): Promise<void> {
    const pointerName = sha256(`${model}:${value}`);
    await this.#locks.run(`pointer:${pointerName}`, () =>
      this.#pointerFile(join(dir, `${pointerName}.json`)).write({ name }),
    );
  }

  /** Removes a pointer if it still leads to `name` (a newer record may have taken it over). */
  async #unpoint(dir: string, model: string, value: string, name: string): Promise<void> {
    const pointerName = sha256(`${model}:${value}`);
    const path = join(dir, `${pointerName}.json`);
    await this.#locks.run(`pointer:${pointerName}`, async () => {
      const pointer = await readOrNull(this.#pointerFile(path));
      if (pointer?.name === name) await removeFileDurably(path, this.#fs);
    });
  }

  async #addToGrant(grantId: string, name: string): Promise<void> {
    const grantName = sha256(grantId);
    await this.#locks.run(`grant:${grantName}`, async () => {
      let names = await this.#readMembers(grantName);
      if (names.includes(name)) return;
      names.push(name);
      if (names.length > GRANT_PRUNE_AT) {
        const alive = await Promise.all(names.map(async (n) => (await this.#readRecord(n)) !== null));
        names = names.filter((_, i) => alive[i]);
      }
      await this.#membersFile(grantName).write({ names });
    });
  }

  async #readMembers(grantName: string): Promise<string[]> {
    const members = await readOrNull(this.#membersFile(grantName));
    return members?.names ?? [];
  }

  async #readLive(name: string, model: string): Promise<StoredRecord | null> {
    const record = await this.#readRecord(name);
    if (!record || record.model !== model) return null;
    if (record.expiresAt !== null && record.expiresAt <= Date.now()) return null;
    return record;
  }

  /** A damaged record counts as none: a token that cannot be read grants nothing. */
  #readRecord(name: string): Promise<StoredRecord | null> {
    return readOrNull(this.#recordFile(name));
  }

  #countWrite(): void {
    this.#writes++;
    if (this.#writes < SWEEP_EVERY || this.#sweeping) return;
    this.#writes = 0;
    this.#sweeping = this.sweepExpired()
      .catch((error) =>
        console.error(JSON.stringify({ level: 'error', msg: 'oidc sweep failed', error: String(error) })),
      )
      .then(() => {
        this.#sweeping = null;
      });
  }

  #recordPath(name: string): string {
    return join(this.#recordsDir, `${name}.json`);
  }

  #recordFile(name: string): DurableJsonFile<StoredRecord> {
    return new DurableJsonFile(this.#recordPath(name), parseRecord, this.#fs);
  }

  #pointerFile(path: string): DurableJsonFile<z.infer<typeof PointerSchema>> {
    return new DurableJsonFile(path, parsePointer, this.#fs);
  }

  #membersFile(grantName: string): DurableJsonFile<z.infer<typeof MembersSchema>> {
    return new DurableJsonFile(this.#grantPath(grantName), parseMembers, this.#fs);
  }

  #grantPath(grantName: string): string {
    return join(this.#grantsDir, `${grantName}.json`);
  }
}

const parseRecord = parserFor(RecordSchema);
const parsePointer = parserFor(PointerSchema);
const parseMembers = parserFor(MembersSchema);

function recordName(model: string, id: string): string {
  return sha256(`${model}:${id}`);
}

async function readOrNull<T>(file: DurableJsonFile<T>): Promise<T | null> {
  try {
    return await file.read();
  } catch (error) {
    if (error instanceof CorruptFileError) return null;
    throw error;
  }
}
