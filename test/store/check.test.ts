/** Checksums, records of the previous version, the index's last line, store:check / --repair, and backups. */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { archive, MAX_LINE_BYTES, readArchive, verifyArchive, writeArchive } from '../../server/store/backup';
import { checkStore, repairStore } from '../../server/store/lowdb/check';
import { DirectoryInUseError } from '../../server/store/lowdb/dir-lock';
import { unseal } from '../../server/store/records';
import { DamagedAccountError, type UserRecord } from '../../server/store/types';
import { makeApplication, makeEvent, makeToken, makeUser, openStore, tempDir } from './store-fixtures';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

describe('the user index journal', () => {
  it('keeps a last line that lost only its newline (the newest account), and still cuts a torn one', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { indexCompactAfter: 100 });
    const alice = makeUser('alice');
    const bob = makeUser('bob');
    await store.createUser(alice);
    await store.createUser(bob);
    await store.close();
    const journal = join(dir, 'index.jsonl');
    const text = await readFile(journal, 'utf8');
    await writeFile(journal, text.slice(0, -1));

    const again = await openStore(dir, { indexCompactAfter: 100 });
    expect((await again.findUserByUsername('bob'))?.id).toBe(bob.id);
    expect(await again.countUsers()).toBe(2);
    expect(await readFile(journal, 'utf8')).toBe(text);
    await again.close();

    // A line cut inside is no account: it is dropped, and so is only it.
    await writeFile(journal, text.slice(0, -20));
    const third = await openStore(dir, { indexCompactAfter: 100 });
    expect(await third.findUserByUsername('bob')).toBeNull();
    expect((await third.findUserByUsername('alice'))?.id).toBe(alice.id);
  });
});

describe('records of the previous version (no checksum)', () => {
  it('opens and reads them; store:check counts them; --repair seals them, losing nothing', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice', { role: 'admin' });
    await store.createUser(alice);
    await store.setPolicy({
      mfaUsage: 'required',
      backupCodes: { enabled: true, count: 8, warnWhenRemaining: 2 },
    });
    const token = makeToken(alice.id);
    await store.putToken(token);
    const event = await store.appendAudit(makeEvent({ subject: { id: alice.id, username: 'alice' } }));
    await store.close();
    // What the previous version wrote: the same JSON without the seal.
    for (const path of await filesUnder(dir)) {
      if (path.endsWith('server.lock')) continue;
      const text = await readFile(path, 'utf8');
      const lines = text.split('\n').map((line) => (line ? unseal(line).json : line));
      await writeFile(path, lines.join('\n'));
      expect(await readFile(path, 'utf8')).not.toContain('"sum"');
    }

    const old = await openStore(dir);
    expect(await old.getUser(alice.id)).toEqual(alice);
    expect((await old.getPolicy()).backupCodes.count).toBe(8);
    expect(await old.getToken(token.hash)).toEqual(token);
    expect(await old.listAudit({ limit: 10, userId: alice.id })).toEqual([event]);
    await old.close();

    const report = await checkStore(dir);
    expect(report.problems).toEqual([]);
    expect(report.unsealed).toBe(3); // policy, user, token (no index snapshot yet; log lines are not counted)
    const repaired = await repairStore(dir);
    expect(repaired.quarantined).toEqual([]);
    expect((await checkStore(dir)).unsealed).toBe(0);
    const sealedUser = await readFile(join(dir, 'users', `${alice.id}.json`), 'utf8');
    expect(sealedUser.startsWith('{"sum":"')).toBe(true);
    const reopened = await openStore(dir);
    expect(await reopened.getUser(alice.id)).toEqual(alice);
    expect(await reopened.getToken(token.hash)).toEqual(token);
  });
});

describe('store:check and --repair', () => {
  it('lists every problem; --repair quarantines what is damaged, rebuilds the index, keeps everything else', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { indexCompactAfter: 100 });
    const users = ['alice', 'bob', 'carol', 'dave'].map((name) => makeUser(name));
    for (const user of users) await store.createUser(user);
    const [alice, bob, carol, dave] = users as [
      ReturnType<typeof makeUser>,
      ...ReturnType<typeof makeUser>[],
    ];
    if (!bob || !carol || !dave) throw new Error('four users');
    await store.close();
    const userPath = (id: string) => join(dir, 'users', `${id}.json`);
    const before = new Map<string, string>();
    for (const user of [alice, dave]) before.set(user.id, await readFile(userPath(user.id), 'utf8'));

    await writeFile(userPath(bob.id), '');
    const ghost = makeUser('ghost');
    await writeFile(join(dir, 'users', `${ghost.id}.json`), JSON.stringify(ghost));
    await writeFile(join(dir, 'tokens', 'deadbeef.json'), '{"sum":"0000000000000000","hash":"x"}');
    await writeFile(join(dir, 'unknown-names', 'cafe.json'), '{"lockout":');
    await writeFile(join(dir, 'users', '.left.json.0a0b.tmp'), 'half');
    // One damaged journal line: the store refuses to open until the index is rebuilt.
    const journal = join(dir, 'index.jsonl');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[2] = (lines[2] as string).replace('carol', 'karol');
    await writeFile(journal, lines.join('\n'));

    const report = await checkStore(dir);
    expect(report.problems.map((p) => [p.kind, p.path])).toEqual(
      expect.arrayContaining([
        ['index_damaged', 'index.jsonl'],
        ['user_damaged', `users/${bob.id}.json`],
        ['token_damaged', 'tokens/deadbeef.json'],
        ['unknown_name_damaged', 'unknown-names/cafe.json'],
        ['temp_file', 'users/.left.json.0a0b.tmp'],
      ]),
    );
    expect(report.problems.find((p) => p.kind === 'index_damaged')?.detail).toBe('line 3 damaged');
    expect(report.problems.find((p) => p.kind === 'user_damaged')?.detail).toBe('empty (zero bytes)');

    const repair = await repairStore(dir, new Date('2026-12-01T10:00:00Z'));
    expect(repair.quarantineDir).toBe('quarantine/2026-12-01T10-00-00.000Z');
    expect(repair.quarantined).toEqual(
      expect.arrayContaining([
        `users/${bob.id}.json`,
        'tokens/deadbeef.json',
        'unknown-names/cafe.json',
        'users/.left.json.0a0b.tmp',
        'index.jsonl',
      ]),
    );
    // Nothing is deleted: the damaged files sit in quarantine, byte for byte.
    expect(await readFile(join(dir, repair.quarantineDir ?? '', 'users', `${bob.id}.json`), 'utf8')).toBe('');
    expect(await readFile(join(dir, repair.quarantineDir ?? '', 'index.jsonl'), 'utf8')).toContain('karol');
    expect(repair.after.problems).toEqual([]);

    const reopened = await openStore(dir);
    // Without a readable index, the files say who exists: the unindexed ghost comes back too (reported).
    expect((await reopened.listUsers()).map((user) => user.username).sort()).toEqual([
      'alice',
      'carol',
      'dave',
      'ghost',
    ]);
    expect(await reopened.getUser(bob.id)).toBeNull();
    for (const user of [alice, dave])
      expect(await readFile(userPath(user.id), 'utf8')).toBe(before.get(user.id));
    expect(await reopened.listDamaged()).toEqual([]);
  });

  it('with a readable index, quarantines user files it does not name rather than bringing them back', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    await store.close();
    const ghost = makeUser('ghost');
    await writeFile(join(dir, 'users', `${ghost.id}.json`), JSON.stringify(ghost));

    const report = await checkStore(dir);
    expect(report.problems.map((p) => p.kind)).toEqual(['user_orphan']);
    const repair = await repairStore(dir);
    expect(repair.quarantined).toEqual([`users/${ghost.id}.json`]);
    const reopened = await openStore(dir);
    expect((await reopened.listUsers()).map((user) => user.username)).toEqual(['alice']);
  });

  it('--repair refuses while a server holds the directory', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.createUser(makeUser('alice'));
    const lock = await readFile(join(dir, 'server.lock'), 'utf8');
    await store.close();
    // A live process of this boot (the test runner's parent) holds it.
    await writeFile(join(dir, 'server.lock'), lock.replace(/^\d+/, String(process.ppid)));
    await expect(repairStore(dir)).rejects.toBeInstanceOf(DirectoryInUseError);
    expect(await readFile(join(dir, 'server.lock'), 'utf8')).toContain(String(process.ppid));
  });
});

describe('store:check and --repair on the OpenID Connect files (DATA_DIR/oidc)', () => {
  it('reports damaged applications, keys and provider records; --repair quarantines only the short-lived records', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const grafana = makeApplication();
    await store.createApplication(grafana);
    const keys = {
      signing: [{ kid: 'k1', jwk: { kty: 'RSA' }, createdAt: '2026-11-27T10:00:00.000Z', retiredAt: null }],
      cookieSecrets: ['secret'],
    };
    await store.updateOidcKeys(() => keys);
    const expiresAt = Date.now() + 3_600_000;
    await store.oidcPut('Session', 'session-1', { uid: 'uid-1', accountId: 'a' }, expiresAt);
    await store.oidcPut('Grant', 'grant-1', { accountId: 'a' }, expiresAt);
    await store.oidcPut('AccessToken', 'token-1', { grantId: 'grant-1' }, expiresAt);
    await store.close();
    expect((await checkStore(dir)).problems).toEqual([]);

    const oidc = join(dir, 'oidc');
    const applications = join(oidc, 'applications.json');
    const keysFile = join(oidc, 'keys.json');
    const good = { applications: await readFile(applications), keys: await readFile(keysFile) };
    // A flipped byte in the applications, the key set cut short, garbage in a record, an empty pointer.
    const flipped = Buffer.from(good.applications);
    const at = flipped.indexOf('Grafana');
    flipped[at] = (flipped[at] as number) ^ 0x01;
    await writeFile(applications, flipped);
    await writeFile(keysFile, good.keys.subarray(0, good.keys.length - 10));
    const [record] = (await readdir(join(oidc, 'records'))).sort();
    await writeFile(join(oidc, 'records', record as string), 'not json at all');
    const [pointer] = await readdir(join(oidc, 'by-uid'));
    await writeFile(join(oidc, 'by-uid', pointer as string), '');
    await writeFile(join(oidc, 'grants', '.left.json.0a0b.tmp'), 'half');

    const report = await checkStore(dir);
    expect(report.problems.map((p) => [p.kind, p.path]).sort()).toEqual(
      [
        ['oidc_applications_damaged', 'oidc/applications.json'],
        ['oidc_keys_damaged', 'oidc/keys.json'],
        ['oidc_record_damaged', `oidc/records/${record}`],
        ['oidc_record_damaged', `oidc/by-uid/${pointer}`],
        ['temp_file', 'oidc/grants/.left.json.0a0b.tmp'],
      ].sort(),
    );
    expect(report.problems.find((p) => p.kind === 'oidc_applications_damaged')?.detail).toMatch(
      /checksum mismatch/,
    );
    expect(report.problems.find((p) => p.kind === 'oidc_record_damaged')?.repair).toMatch(/quarantined/);
    expect(report.problems.find((p) => p.kind === 'oidc_keys_damaged')?.repair).toMatch(
      /store:restore .* copy its oidc\/keys.json here/,
    );
    // The server would not start on damaged applications (it would run without them otherwise).
    await expect(openStore(dir)).rejects.toThrow(/applications.json is corrupt/);

    const repair = await repairStore(dir);
    expect(repair.quarantined.sort()).toEqual(
      [`oidc/records/${record}`, `oidc/by-uid/${pointer}`, 'oidc/grants/.left.json.0a0b.tmp'].sort(),
    );
    // The applications and keys are left for a restore, byte for byte, and still reported.
    expect(await readFile(applications)).toEqual(flipped);
    expect(repair.after.problems.map((p) => p.kind).sort()).toEqual([
      'oidc_applications_damaged',
      'oidc_keys_damaged',
    ]);

    // Copied back from a backup: the store opens with its application and keys.
    await writeFile(applications, good.applications);
    await writeFile(keysFile, good.keys);
    expect((await checkStore(dir)).problems).toEqual([]);
    const reopened = await openStore(dir);
    expect(await reopened.getApplication(grafana.id)).toEqual(grafana);
    expect(await reopened.getOidcKeys()).toEqual(keys);
  });
});

describe('restoring one damaged account from a backup', () => {
  it('puts back the damaged account as the backup holds it, and refuses to roll back a healthy one', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    const bob = makeUser('bob');
    await store.createUser(alice);
    await store.createUser(bob);
    const archivePath = join(await tempDir(), 'store.backup');
    await writeArchive(archive(store.exportBackup()), archivePath);
    expect(await verifyArchive(archivePath)).toEqual({
      users: 2,
      damaged: 0,
      audit: 0,
      applications: 0,
      oidcKeys: 0,
    });
    await store.close();
    await writeFile(join(dir, 'users', `${alice.id}.json`), '');

    const again = await openStore(dir);
    await expect(again.getUser(alice.id)).rejects.toBeInstanceOf(DamagedAccountError);
    const saved = new Map<string, UserRecord>();
    for await (const item of readArchive(archivePath))
      if (item.kind === 'user') saved.set(item.user.username, item.user);
    expect(await again.restoreUser(saved.get('alice') as UserRecord)).toBe('replaced');
    expect(await again.getUser(alice.id)).toEqual(alice);
    expect(await again.listDamaged()).toEqual([]);
    await expect(again.restoreUser(saved.get('bob') as UserRecord)).rejects.toThrow(/bob is not damaged/);
  });
});

describe('backups of the OpenID Connect data', () => {
  it('carry the applications and the key set into an empty store, not the provider records', async () => {
    const store = await openStore();
    const grafana = makeApplication();
    const gitlab = makeApplication({ name: 'GitLab', type: 'public', secretHash: null });
    await store.createApplication(grafana);
    await store.createApplication(gitlab);
    const keys = {
      signing: [{ kid: 'k2', jwk: { kty: 'RSA' }, createdAt: '2026-11-28T10:00:00.000Z', retiredAt: null }],
      cookieSecrets: ['secret'],
    };
    await store.updateOidcKeys(() => keys);
    await store.oidcPut('Session', 'session-1', { accountId: 'a' }, Date.now() + 3_600_000);
    const archivePath = join(await tempDir(), 'store.backup');
    await writeArchive(archive(store.exportBackup()), archivePath);
    expect(await verifyArchive(archivePath)).toMatchObject({ applications: 2, oidcKeys: 1 });

    const restored = await openStore();
    const counts = await restored.importBackup(readArchive(archivePath));
    expect(counts).toMatchObject({ applications: 2, oidcKeys: 1 });
    expect(await restored.listApplications()).toEqual([grafana, gitlab]);
    expect(await restored.getOidcKeys()).toEqual(keys);
    expect(await restored.oidcGet('Session', 'session-1')).toBeNull();
    // A store that holds an application (or keys) is not empty: nothing is replayed over it.
    await expect(store.importBackup(readArchive(archivePath))).rejects.toThrow(/is not empty/);
  });

  it('still reads an archive of version 1 (before applications and keys were kept)', async () => {
    const user = makeUser('alice');
    const lines = [
      JSON.stringify({ format: 'sparekey-backup', version: 1, createdAt: '2026-11-30T10:00:00.000Z' }),
      JSON.stringify({ kind: 'user', user }),
    ].map((line) => `${line}\n`);
    const sha256 = createHash('sha256').update(lines.join('')).digest('hex');
    lines.push(`${JSON.stringify({ kind: 'end', counts: { users: 1, damaged: 0, audit: 0 }, sha256 })}\n`);
    const path = join(await tempDir(), 'v1.backup');
    await writeFile(path, gzipSync(lines.join('')));
    expect(await verifyArchive(path)).toEqual({
      users: 1,
      damaged: 0,
      audit: 0,
      applications: 0,
      oidcKeys: 0,
    });
    const restored = await openStore();
    await restored.importBackup(readArchive(path));
    expect(await restored.getUser(user.id)).toEqual(user);
  });

  it('refuses a line longer than MAX_LINE_BYTES as it reads it, without holding the whole line', async () => {
    const header = JSON.stringify({
      format: 'sparekey-backup',
      version: 2,
      createdAt: new Date().toISOString(),
    });
    // A few MB over the bound, in one line that looks like a record: gzip makes it a few KB on disk.
    const long = `{"kind":"audit","event":"${'x'.repeat(MAX_LINE_BYTES + 3 * 1024 * 1024)}"}`;
    const path = join(await tempDir(), 'long-line.backup');
    await writeFile(path, gzipSync(`${header}\n${long}\n`));
    const started = performance.now();
    await expect(verifyArchive(path)).rejects.toThrow(
      `${path} is not a complete SpareKey backup: a line is longer than ${MAX_LINE_BYTES} bytes`,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
