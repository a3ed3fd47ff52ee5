/**
 * Encrypted backups (issue #20, item 4): `store:backup --recipient age1…` / `--recipient-file FILE`
 * writes an age file that hides every secret, Debian's `age` tool opens it, and `store:restore
 * --identity-file FILE` brings the accounts back (they sign in). Without the identity, or with another
 * one, the restore refuses in one line and writes nothing; `--unencrypted` must be asked for; an
 * archive `age -r` encrypted restores too. Keys are made by `age-keygen`, as README tells operators.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStorageKey } from '../../server/crypto/sealing';
import { archive, type BackupItem, checkedOnTheWay, writeArchive } from '../../server/store/backup';
import { encrypted } from '../../server/store/backup-encryption';
import { StoreSecrets } from '../../server/store/secrets';
import { makeUser } from '../store/store-fixtures';
import { age, type KeyPair, keyPair } from '../support/age';
import { runCli } from '../support/cli';
import { type Alice, adminToken, PASSWORD, setUpAlice } from '../support/oidc-users';
import { call, type RunningServer, startServer } from '../support/server';

const AGE_HEADER = 'age-encryption.org/v1\n';

let work: string;
let dataDir: string;
let server: RunningServer | undefined;
let alice: Alice;
let adminPassword: string;
let ours: KeyPair;
let theirs: KeyPair;

const env = () => ({ DATA_DIR: dataDir, DATABASE_URL: '' });
/** The source store's generated storage key: the restored stores are sealed under it too. */
const keyFile = () => join(dataDir, 'storage.key');
const backup = (args: string[]) => runCli('store-backup', args, { env: env() });
const restore = (args: string[], storageKeyFile = keyFile()) =>
  runCli('store-restore', args, { env: { DATABASE_URL: '', STORAGE_ENCRYPTION_KEY_FILE: storageKeyFile } });
/** Opens what the archive holds sealed, with the source store's key. */
const opener = () =>
  new StoreSecrets({ current: parseStorageKey(readFileSync(keyFile(), 'utf8').trim()), previous: null });
/** A new directory under the test's own, for one archive or one restore. */
const fresh = (name: string) => mkdtemp(join(work, `${name}-`));

function expectOneLine(result: { code: number | null; stdout: string; stderr: string }, code: number) {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
}

/** The archive's records, from the plain (gzip) bytes. */
function recordsOf(plain: Buffer): Array<Record<string, unknown>> {
  return gunzipSync(plain)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sparekey-backup-age-'));
  ours = keyPair(join(work, 'ours.txt'));
  theirs = keyPair(join(work, 'theirs.txt'));
  dataDir = join(work, 'data');
  server = await startServer({ dataDir });
  adminPassword = server.adminPassword;
  alice = await setUpAlice(server, await adminToken(server));
  // The provider's key set is made on its first use: the backup must have private keys to hide.
  expect((await fetch(`${server.url}/oidc/jwks`)).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await server?.stop({ keepData: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe('store:backup --recipient, store:restore --identity-file', () => {
  let ageArchive: string;

  it('encrypts the archive from the running server: 0600, no secret or name in clear, and the age tool opens it', async () => {
    ageArchive = join(await fresh('archive'), 'sparekey.backup.age');
    const result = await backup(['--to', ageArchive, '--recipient', ours.recipient]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^Backed up 2 account\(s\) and \d+ audit event\(s\), with 0 OpenID Connect application\(s\) and the signing keys to .* \(encrypted to 1 age recipient\(s\)\) in [\d.]+ s, from the running server \(pid \d+\)\.\n$/,
    );
    const file = await stat(ageArchive);
    expect(file.mode & 0o777).toBe(0o600);

    const bytes = await readFile(ageArchive);
    expect(bytes.subarray(0, AGE_HEADER.length).toString('latin1')).toBe(AGE_HEADER);
    // What the archive holds, as the age tool decrypts it with the identity.
    const records = recordsOf(age(['--decrypt', '--identity', ours.identityFile], bytes));
    // Inside, the secrets are still sealed under the store's storage key, named first.
    expect(records[1]).toMatchObject({ kind: 'sealed_under', keyId: expect.any(String) });
    const user = records.find(
      (r) => r.kind === 'user' && (r.user as { username: string }).username === 'alice',
    );
    const sealedSecret = (user?.user as { mfa: { secret: string } } | undefined)?.mfa.secret ?? '';
    expect(sealedSecret).toMatch(/^sk1\./);
    expect(opener().openTotpOf(alice.id, sealedSecret)).toBe(alice.secret);
    const sealedKeys = records.find((r) => r.kind === 'oidc_keys_sealed')?.sealed as string;
    const keys = opener().openOidcKeys({ sealed: sealedKeys }) as {
      signing: Array<{ jwk: { d?: string } }>;
      cookieSecrets: string[];
    };
    const privateParts = keys.signing.map((key) => key.jwk.d ?? '');
    expect(privateParts.length).toBeGreaterThan(0);
    for (const d of privateParts) expect(d.length).toBeGreaterThan(20);
    // None of it is in the file's bytes.
    const secrets = [alice.secret, 'alice', 'admin', ...privateParts, ...keys.cookieSecrets];
    for (const secret of secrets) expect(bytes.includes(Buffer.from(secret))).toBe(false);
    expect(() => gunzipSync(bytes)).toThrow();
  });

  it('refuses to restore without --identity-file, or with another identity, in one line, writing nothing', async () => {
    const parent = await fresh('refused');
    const target = join(parent, 'data');
    const without = await restore(['--from', ageArchive, '--to', target]);
    expectOneLine(without, 1);
    expect(without.stderr).toMatch(/is encrypted with age: pass --identity-file FILE/);

    const other = await restore([
      '--from',
      ageArchive,
      '--to',
      target,
      '--identity-file',
      theirs.identityFile,
    ]);
    expectOneLine(other, 1);
    expect(other.stderr).toMatch(
      /was encrypted to other recipients: no identity in --identity-file .*theirs\.txt opens it\.\n$/,
    );
    expect(other.stderr).not.toContain(theirs.identity);
    expect(await readdir(parent)).toEqual([]);

    // An existing empty DATA_DIR stays empty.
    await mkdir(target);
    expectOneLine(await restore(['--from', ageArchive, '--to', target]), 1);
    expectOneLine(
      await restore(['--from', ageArchive, '--to', target, '--identity-file', theirs.identityFile]),
      1,
    );
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses an encrypted archive altered or cut short, writing nothing', async () => {
    const bytes = await readFile(ageArchive);
    const altered = Buffer.from(bytes);
    altered[altered.length - 40] = (altered[altered.length - 40] ?? 0) ^ 1;
    const dir = await fresh('damaged');
    for (const [name, content] of [
      ['altered.age', altered],
      ['cut.age', bytes.subarray(0, bytes.length - 100)],
    ] as const) {
      await writeFile(join(dir, name), content);
      const result = await restore([
        '--from',
        join(dir, name),
        '--to',
        join(dir, `${name}-data`),
        '--identity-file',
        ours.identityFile,
      ]);
      expectOneLine(result, 1);
      expect(result.stderr).toMatch(/is not a complete SpareKey backup/);
      expect(existsSync(join(dir, `${name}-data`))).toBe(false);
    }
  });

  it('restores with the identity: alice signs in with her password and a backup code, the admin with theirs', async () => {
    // The source server stops first: the restored one takes over its accounts.
    await server?.stop({ keepData: true });
    server = undefined;
    const target = join(await fresh('restored'), 'data');
    const result = await restore([
      '--from',
      ageArchive,
      '--to',
      target,
      '--identity-file',
      ours.identityFile,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Restored 2 account\(s\) .* into .*; verified against .*\n$/);

    const restored = await startServer({ dataDir: target, env: { STORAGE_ENCRYPTION_KEY_FILE: keyFile() } });
    try {
      const step = await call(restored.url, 'POST', '/api/auth/login', {
        body: { username: 'alice', password: PASSWORD },
      });
      expect(step.body.status).toBe('mfa_required');
      const signedIn = await call(restored.url, 'POST', '/api/auth/mfa', {
        body: { mfaToken: step.body.mfaToken, method: 'backup_code', code: alice.codes[0] },
      });
      expect(signedIn.status).toBe(200);
      expect(signedIn.body.user.username).toBe('alice');
      const admin = await call(restored.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password: adminPassword },
      });
      expect(admin.body.status).toBe('ok');
    } finally {
      await restored.stop();
    }
  }, 120_000);
});

describe('recipient files, --unencrypted, and archives the age tool encrypted', () => {
  it('encrypts to every recipient of a recipients file (comments and blank lines skipped): either identity restores it', async () => {
    const dir = await fresh('recipients-file');
    const recipients = join(dir, 'recipients.txt');
    await writeFile(
      recipients,
      `# backup keys\n${ours.recipient}\n\n  # the second site's\n${theirs.recipient}\n`,
    );
    const to = join(dir, 'sparekey.backup.age');
    const result = await backup(['--to', to, '--recipient-file', recipients]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(
      /\(encrypted to 2 age recipient\(s\)\) in [\d.]+ s, with no server running/,
    );
    for (const pair of [ours, theirs]) {
      const restored = await restore([
        '--from',
        to,
        '--to',
        join(await fresh('restored'), 'data'),
        '--identity-file',
        pair.identityFile,
      ]);
      expect(restored.stderr).toBe('');
      expect(restored.stdout).toMatch(/^Restored 2 account\(s\)/);
    }
  });

  it('an --unencrypted archive holds no secret in clear either; a restore without the storage key, or with another, refuses in one line and writes nothing', async () => {
    const dir = await fresh('sealed');
    const plain = join(dir, 'sparekey.backup');
    expect((await backup(['--to', plain, '--unencrypted'])).code).toBe(0);
    const bytes = await readFile(plain);
    const records = recordsOf(bytes);
    const sealedKeys = records.find((r) => r.kind === 'oidc_keys_sealed')?.sealed as string;
    const keys = opener().openOidcKeys({ sealed: sealedKeys }) as {
      signing: Array<{ jwk: { d: string } }>;
      cookieSecrets: string[];
    };
    const unpacked = gunzipSync(bytes);
    for (const secret of [alice.secret, ...keys.signing.map((key) => key.jwk.d), ...keys.cookieSecrets]) {
      expect(unpacked.includes(Buffer.from(secret))).toBe(false);
    }
    expect(records.some((r) => r.kind === 'oidc_keys')).toBe(false);

    const another = join(dir, 'another.key');
    await writeFile(another, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const wrong = await restore(['--from', plain, '--to', join(dir, 'wrong')], another);
    expectOneLine(wrong, 1);
    expect(wrong.stderr).toMatch(/^the storage key does not match the backup: set STORAGE_ENCRYPTION_KEY/);
    expect(existsSync(join(dir, 'wrong'))).toBe(false);
    const none = await runCli('store-restore', ['--from', plain, '--to', join(dir, 'none')], {
      env: { DATABASE_URL: '', STORAGE_ENCRYPTION_KEY: '', STORAGE_ENCRYPTION_KEY_FILE: '' },
    });
    expectOneLine(none, 1);
    expect(none.stderr).toMatch(/sealed under a storage key and none is set/);
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });

  it('--unencrypted writes the gzip archive and restores without an identity; `age -r` of it restores with one', async () => {
    const dir = await fresh('unencrypted');
    const plain = join(dir, 'sparekey.backup');
    const result = await backup(['--to', plain, '--unencrypted']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/ \(not encrypted\) in [\d.]+ s, with no server running\.\n$/);
    const bytes = await readFile(plain);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(recordsOf(bytes).some((r) => r.kind === 'user')).toBe(true);
    const restored = await restore(['--from', plain, '--to', join(dir, 'from-plain')]);
    expect(restored.stderr).toBe('');
    expect(restored.stdout).toMatch(/^Restored 2 account\(s\)/);

    const byTheTool = join(dir, 'by-age.age');
    age(['--encrypt', '--recipient', ours.recipient, '--output', byTheTool, plain]);
    const refused = await restore(['--from', byTheTool, '--to', join(dir, 'never')]);
    expectOneLine(refused, 1);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    const fromTool = await restore([
      '--from',
      byTheTool,
      '--to',
      join(dir, 'from-age'),
      '--identity-file',
      ours.identityFile,
    ]);
    expect(fromTool.stderr).toBe('');
    expect(fromTool.stdout).toMatch(/^Restored 2 account\(s\) .* verified against .*by-age\.age\.\n$/);

    // The armored form (age -a) is named and refused, not misread as a damaged archive.
    const armored = join(dir, 'armored.age');
    age(['--encrypt', '--armor', '--recipient', ours.recipient, '--output', armored, plain]);
    const refusedArmor = await restore([
      '--from',
      armored,
      '--to',
      join(dir, 'never'),
      '--identity-file',
      ours.identityFile,
    ]);
    expectOneLine(refusedArmor, 1);
    expect(refusedArmor.stderr).toMatch(/is an ASCII-armored age file \(age -a\)/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

describe('what the commands refuse, in one line naming the option, writing nothing', () => {
  it('a backup with no recipient and no --unencrypted, with both, or with a malformed recipient', async () => {
    const dir = await fresh('refusals');
    const to = join(dir, 'sparekey.backup');
    const missing = await backup(['--to', to]);
    expectOneLine(missing, 2);
    expect(missing.stderr).toMatch(
      /needs --recipient age1… or --recipient-file FILE .*, or --unencrypted to write it in clear\.\n$/,
    );

    const both = await backup(['--to', to, '--unencrypted', '--recipient', ours.recipient]);
    expectOneLine(both, 2);
    expect(both.stderr).toMatch(/--unencrypted and --recipient\/--recipient-file exclude each other/);

    const malformed = await backup(['--to', to, '--recipient', 'age1notarecipient']);
    expectOneLine(malformed, 2);
    expect(malformed.stderr).toMatch(/^--recipient is not an age recipient \(age1…/);
    const second = await backup([
      '--to',
      to,
      '--recipient',
      ours.recipient,
      '--recipient',
      'ssh-ed25519 AAAA',
    ]);
    expect(second.stderr).toMatch(/^--recipient \(value 2\) is not an age recipient/);

    // An identity passed by mistake is named as such and never repeated.
    const secret = await backup(['--to', to, '--recipient', ours.identity]);
    expectOneLine(secret, 2);
    expect(secret.stderr).toMatch(/^--recipient is an age identity \(a secret key\), not a recipient/);
    expect(secret.stderr).not.toContain(ours.identity);

    const file = join(dir, 'recipients.txt');
    await writeFile(file, `# keys\n${ours.recipient}\nage1-not-one\n`);
    const badLine = await backup(['--to', to, '--recipient-file', file]);
    expectOneLine(badLine, 2);
    expect(badLine.stderr).toMatch(/^--recipient-file .*recipients\.txt line 3 is not an age recipient/);
    await writeFile(file, '# nobody yet\n\n');
    const empty = await backup(['--to', to, '--recipient-file', file]);
    expectOneLine(empty, 2);
    expect(empty.stderr).toMatch(/^--recipient-file .*recipients\.txt holds no recipient\.\n$/);
    const absent = await backup(['--to', to, '--recipient-file', join(dir, 'absent.txt')]);
    expectOneLine(absent, 2);
    expect(absent.stderr).toMatch(/^--recipient-file .*absent\.txt: cannot read it \(ENOENT\)/);

    expect(await readdir(dir)).toEqual(['recipients.txt']);
  });

  it('a restore whose identity file is not one: the line named, its content never repeated', async () => {
    const dir = await fresh('bad-identity');
    const file = join(dir, 'identity.txt');
    const notAKey = 'AGE-SECRET-KEY-1NOTAKEYATALL';
    await writeFile(file, `# created: today\n${ours.identity}\n${notAKey}\n`);
    const archivePath = join(dir, 'any.backup');
    await writeFile(archivePath, 'not read');
    const result = await restore(['--from', archivePath, '--to', join(dir, 'data'), '--identity-file', file]);
    expectOneLine(result, 1);
    expect(result.stderr).toMatch(/^--identity-file .*identity\.txt line 3 is not an age identity/);
    expect(result.stderr).not.toContain(notAKey);
    expect(result.stderr).not.toContain(ours.identity);
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('a restore from an archive that is not there: one line naming it', async () => {
    const dir = await fresh('absent-archive');
    const result = await restore(['--from', join(dir, 'absent.age'), '--to', join(dir, 'data')]);
    expectOneLine(result, 1);
    expect(result.stderr).toMatch(/^Cannot read .*absent\.age \(ENOENT\)\.\n$/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('--help of each command lists every option', async () => {
    const backupHelp = await runCli('store-backup', ['--help']);
    expect(backupHelp.code).toBe(0);
    for (const option of [
      '--to FILE',
      '--recipient age1…',
      '--recipient-file FILE',
      '--unencrypted',
      '--data-dir DIR',
    ])
      expect(backupHelp.stdout).toContain(option);
    expect(backupHelp.stdout).toContain('age-keygen');
    const restoreHelp = await runCli('store-restore', ['--help']);
    expect(restoreHelp.code).toBe(0);
    for (const option of ['--from FILE', '--to DIR', '--identity-file FILE', '--user NAME'])
      expect(restoreHelp.stdout).toContain(option);
  });
});

it('an archive damaged on its way to the file is never renamed into place, however far in it breaks', async () => {
  async function* items(): AsyncGenerator<BackupItem> {
    // Hashes that do not compress, so the archive spans many chunks.
    for (let i = 0; i < 400; i++) {
      yield {
        kind: 'user',
        user: makeUser(`user${i}`, { passwordHash: randomBytes(300).toString('base64') }),
      };
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of archive(items())) chunks.push(chunk);
  const whole = Buffer.concat(chunks);
  expect(whole.length).toBeGreaterThan(64 * 1024);
  const dir = await fresh('on-the-way');
  // Early (the check stops reading while most bytes are still to come) and in the last bytes; written
  // in clear and encrypted.
  for (const recipients of [null, [ours.recipient]]) {
    for (const at of [100, whole.length - 12]) {
      const damaged = Buffer.from(whole);
      damaged[at] = (damaged[at] ?? 0) ^ 0xff;
      async function* slices() {
        for (let start = 0; start < damaged.length; start += 4096)
          yield damaged.subarray(start, start + 4096);
      }
      const { bytes, counts } = checkedOnTheWay(slices(), 'the test archive');
      const target = join(dir, `at-${at}.backup`);
      await expect(writeArchive(recipients ? encrypted(bytes, recipients) : bytes, target)).rejects.toThrow(
        /the test archive is not a complete SpareKey backup/,
      );
      await expect(counts).rejects.toThrow();
      expect(await readdir(dir)).toEqual([]);
    }
  }
  // The same bytes undamaged are written, with their counts.
  const { bytes, counts } = checkedOnTheWay(
    (async function* () {
      yield whole;
    })(),
    'the test archive',
  );
  await writeArchive(bytes, join(dir, 'whole.backup'));
  expect((await counts).users).toBe(400);
  expect(await readFile(join(dir, 'whole.backup'))).toEqual(whole);
});
