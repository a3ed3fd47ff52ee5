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
 *
 * Writes are durable (./durable-json-file.ts); locks live in memory, like the rest of the store.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CorruptFileError, DurableJsonFile, removeFileDurably } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { ApplicationSchema, KeysSchema, parserFor } from './records';
import type { ApplicationRecord, OidcKeys, OidcPayload, OidcStore } from './types';

const ApplicationsSchema = z.object({ applications: z.array(ApplicationSchema) });

const RecordSchema = z.object({
  model: z.string(),
  payload: z.record(z.string(), z.unknown()),
  expiresAt: z.number().nullable(),
});
type StoredRecord = z.infer<typeof RecordSchema>;
const PointerSchema = z.object({ name: z.string() });
const MembersSchema = z.object({ names: z.array(z.string()) });

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
  readonly #applicationsFile: DurableJsonFile<z.infer<typeof ApplicationsSchema>>;
  readonly #keysFile: DurableJsonFile<OidcKeys>;
  readonly #locks = new KeyedMutex();
  #applications: ApplicationRecord[] = [];
  #writes = 0;
  #sweeping: Promise<void> | null = null;

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'oidc');
    this.#recordsDir = join(this.#dir, 'records');
    this.#uidDir = join(this.#dir, 'by-uid');
    this.#userCodeDir = join(this.#dir, 'by-user-code');
    this.#grantsDir = join(this.#dir, 'grants');
    this.#applicationsFile = new DurableJsonFile(
      join(this.#dir, 'applications.json'),
      parserFor(ApplicationsSchema),
    );
    this.#keysFile = new DurableJsonFile(join(this.#dir, 'keys.json'), parserFor(KeysSchema));
  }

  async open(): Promise<void> {
    for (const dir of [this.#dir, this.#recordsDir, this.#uidDir, this.#userCodeDir, this.#grantsDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
    this.#applications = (await this.#applicationsFile.read())?.applications ?? [];
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
    return this.#keysFile.read();
  }

  updateOidcKeys(change: (current: OidcKeys | null) => OidcKeys | null): Promise<OidcKeys | null> {
    return this.#locks.run('keys', async () => {
      const current = await this.#keysFile.read();
      const next = change(structuredClone(current));
      if (!next) return current;
      const checked = KeysSchema.parse(next);
      await this.#keysFile.write(checked);
      return checked;
    });
  }

  // -- provider records --

  async oidcPut(model: string, id: string, payload: OidcPayload, expiresAt: number | null): Promise<void> {
    const name = recordName(model, id);
    // The id (often the bearer value itself) is the file name's preimage only: it is not written.
    const { jti: _jti, ...rest } = payload;
    const record: StoredRecord = { model, payload: rest, expiresAt };
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
    const name = recordName(model, id);
    await this.#locks.run(name, () => removeFileDurably(this.#recordPath(name)));
  }

  async oidcRevokeByGrantId(grantId: string): Promise<void> {
    const grantName = sha256(grantId);
    await this.#locks.run(`grant:${grantName}`, async () => {
      const members = await this.#readMembers(grantName);
      for (const name of members) {
        await this.#locks.run(name, () => removeFileDurably(this.#recordPath(name)));
      }
      await removeFileDurably(this.#grantPath(grantName));
    });
  }

  /** Removes expired records (and their index files); resolves with how many records went. */
  async sweepExpired(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await jsonNames(this.#recordsDir)) {
      await this.#locks.run(name, async () => {
        const record = await this.#readRecord(name);
        if (record && (record.expiresAt === null || record.expiresAt > now)) return;
        if (await removeFileDurably(this.#recordPath(name))) removed++;
      });
    }
    for (const dir of [this.#uidDir, this.#userCodeDir]) {
      for (const pointer of await jsonNames(dir)) {
        const target = await readOrNull(new DurableJsonFile(join(dir, `${pointer}.json`), parsePointer));
        if (!target || !(await this.#readRecord(target.name))) {
          await removeFileDurably(join(dir, `${pointer}.json`));
        }
      }
    }
    return removed;
  }

  async #findBy(dir: string, model: string, field: string, value: string): Promise<OidcPayload | null> {
    const pointer = await readOrNull(
      new DurableJsonFile(join(dir, `${sha256(`${model}:${value}`)}.json`), parsePointer),
    );
    if (!pointer) return null;
    const record = await this.#readLive(pointer.name, model);
    // The pointer may be stale (the record replaced by one with another value): check the field.
    return record && record.payload[field] === value ? { ...record.payload } : null;
  }

  async #point(dir: string, model: string, value: string, name: string): Promise<void> {
    const pointerName = sha256(`${model}:${value}`);
    await this.#locks.run(`pointer:${pointerName}`, () =>
      new DurableJsonFile(join(dir, `${pointerName}.json`), parsePointer).write({ name }),
    );
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
      await new DurableJsonFile(this.#grantPath(grantName), parseMembers).write({ names });
    });
  }

  async #readMembers(grantName: string): Promise<string[]> {
    const members = await readOrNull(new DurableJsonFile(this.#grantPath(grantName), parseMembers));
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
    return new DurableJsonFile(this.#recordPath(name), parseRecord);
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

async function jsonNames(directory: string): Promise<string[]> {
  return (await readdir(directory))
    .filter((file) => file.endsWith('.json') && !file.startsWith('.'))
    .map((file) => file.slice(0, -'.json'.length));
}
