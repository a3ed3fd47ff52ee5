/**
 * The packed tarball as an operator installs it: `npm pack`, `npm install ./sparekey-*.tgz` into an
 * empty directory (production dependencies only, from npm's cache), then `npx sparekey serve`. It
 * runs the compiled server (dist/server) with no TypeScript tooling installed: no tsx, esbuild or
 * web-ext in the installed tree. The stylesheet and the SQL migrations travel with it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPair } from '../support/age';
import { call, type RunningServer, startServer } from '../support/server';

const ROOT = resolve(import.meta.dirname, '../..');

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 90_000 });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

describe('npm pack, npm install ./sparekey-*.tgz, npx sparekey serve', () => {
  let work: string;
  let app: string;
  let tarball: string;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'sparekey-pack-'));
    // The compiled server is what the tarball carries (skipped when it is up to date).
    run(process.execPath, ['--import', 'tsx', 'scripts/build-server.ts'], ROOT);
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], ROOT)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const [info] = packed;
    if (!info) throw new Error('npm pack wrote no tarball');
    tarball = join(work, info.filename);
    app = join(work, 'app');
    run('mkdir', ['-p', app], work);
    await writeFile(join(app, 'package.json'), '{ "name": "sparekey-install-test", "private": true }\n');
    // From npm's cache (filled by `npm ci`) where it can; the registry answers what the cache lacks.
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the tarball holds the compiled server and its runtime files, not the TypeScript sources', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toEqual(
      expect.arrayContaining([
        'package/dist/server/main.js',
        'package/dist/server/sparekey.js',
        'package/dist/server/web/sparekey.css',
        'package/dist/server/store/postgres/migrations/001_initial.sql',
        'package/README.md',
        'package/package.json',
      ]),
    );
    expect(files.filter((file) => file.endsWith('.ts'))).toEqual([]);
  });

  it('installs with production dependencies only: no tsx, esbuild or web-ext', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    expect(installed).toContain('sparekey');
    expect(installed).toContain('argon2');
    for (const tool of ['tsx', 'esbuild', 'web-ext', 'vitest', 'typescript'])
      expect(installed).not.toContain(tool);
    expect(existsSync(join(app, 'node_modules', '.bin', 'sparekey'))).toBe(true);
  });

  it('`npx sparekey serve` answers /healthz/ready and serves the sign-in page with its stylesheet', async () => {
    server = await startServer({
      command: ['npx', '--offline', 'sparekey', 'serve'],
      cwd: app,
      processGroup: true,
    });
    expect((await call(server.url, 'GET', '/healthz/ready')).status).toBe(200);
    expect((await call(server.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    const stylesheet = await fetch(`${server.url}/static/sparekey.css`);
    expect(stylesheet.status).toBe(200);
    expect(await stylesheet.text()).toContain(':root');
    const login = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: server.adminPassword },
    });
    expect(login.status).toBe(200);
    const { output } = server;
    await server.stop();
    server = undefined;
    // npx itself dies of the signal; the server, in the same process group, stops cleanly.
    await expect.poll(output, { timeout: 10_000 }).toContain('"msg":"stopped"');
  });

  it('`sparekey --help` lists the commands; an unknown one is a one-line error', () => {
    const help = spawnSync('npx', ['--offline', 'sparekey', '--help'], { cwd: app, encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const command of [
      'serve',
      'config check',
      'admin',
      'store check',
      'store backup',
      'store restore',
      'store migrate',
      'store rekey',
      'keys rotate',
      'extension pack',
    ])
      expect(help.stdout).toContain(`  ${command} `);
    const unknown = spawnSync('npx', ['--offline', 'sparekey', 'frobnicate'], { cwd: app, encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe(
      `sparekey: unknown command "frobnicate" ('sparekey --help' lists the commands)\n`,
    );
    const serveOption = spawnSync('npx', ['--offline', 'sparekey', 'serve', '--port=1'], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(serveOption.status).toBe(2);
    expect(serveOption.stderr.trim().split('\n')).toHaveLength(1);
    // Packing builds the extension (esbuild, web-ext): a production install says where to run it.
    const pack = spawnSync(
      'npx',
      ['--offline', 'sparekey', 'extension', 'pack', '--out', join(work, 'pack')],
      {
        cwd: app,
        encoding: 'utf8',
      },
    );
    expect(pack.status).toBe(2);
    expect(pack.stderr).toBe(
      'sparekey: "extension pack" runs in a SpareKey checkout with its dev dependencies (git clone, npm ci), not in an installed package\n',
    );
    expect(existsSync(join(work, 'pack'))).toBe(false);
  });

  it('`sparekey config check` runs from the installed package: settings masked, nothing written', () => {
    const dataDir = join(work, 'config-check-data');
    const check = spawnSync('npx', ['--offline', 'sparekey', 'config', 'check'], {
      cwd: app,
      encoding: 'utf8',
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        DATABASE_URL: 'postgres://sk:installed-pw@127.0.0.1/sparekey',
        BOOTSTRAP_ADMIN_PASSWORD: '',
        // Required with DATABASE_URL.
        STORAGE_ENCRYPTION_KEY: 'aW5zdGFsbGVkIHBhY2thZ2UgdGVzdCBrZXksIG5vdCByZWFs',
      },
    });
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toContain('DATABASE_URL=postgres://sk:********@127.0.0.1/sparekey\n');
    expect(check.stdout).not.toContain('installed-pw');
    expect(check.stdout).not.toContain('aW5zdGFsbGVkIHBhY2thZ2UgdGVzdCBrZXksIG5vdCByZWFs');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('`sparekey store backup --recipient` and `store restore --identity-file` run from the installed package', () => {
    // age-encryption is an ES module in node_modules, imported by the compiled bundles at run time.
    const keys = keyPair(join(work, 'installed-backup-identity.txt'));
    const dataDir = join(work, 'installed-backup-data');
    const sparekey = (args: string[]) =>
      spawnSync('npx', ['--offline', 'sparekey', ...args], {
        cwd: app,
        encoding: 'utf8',
        env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' },
      });
    const to = join(work, 'installed.backup.age');
    const backup = sparekey(['store', 'backup', '--to', to, '--recipient', keys.recipient]);
    expect(backup.stderr).toBe('');
    expect(backup.stdout).toMatch(/\(encrypted to 1 age recipient\(s\)\)/);
    const restored = join(work, 'installed-restored');
    const refused = sparekey(['store', 'restore', '--from', to, '--to', restored]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/is encrypted with age: pass --identity-file/);
    const restore = sparekey([
      'store',
      'restore',
      '--from',
      to,
      '--to',
      restored,
      '--identity-file',
      keys.identityFile,
    ]);
    expect(restore.stderr).toBe('');
    expect(restore.status).toBe(0);
    expect(restore.stdout).toMatch(/^Restored 0 account\(s\) .* verified against/);
  });

  it('each command answers --help without opening a store', () => {
    for (const command of [
      ['config', 'check'],
      ['admin'],
      ['store', 'check'],
      ['store', 'backup'],
      ['store', 'restore'],
      ['store', 'migrate'],
      ['keys', 'rotate'],
      ['serve'],
    ]) {
      const help = spawnSync('npx', ['--offline', 'sparekey', ...command, '--help'], {
        cwd: app,
        encoding: 'utf8',
        env: { ...process.env, DATA_DIR: join(work, 'no-such-store') },
      });
      expect(help.status, `sparekey ${command.join(' ')} --help: ${help.stderr}`).toBe(0);
      expect(help.stdout).toMatch(/usage/i);
    }
    expect(existsSync(join(work, 'no-such-store'))).toBe(false);
  });
});

describe('a checkout: npm ci --omit=dev, then npm run serve:prod', () => {
  let work: string;
  let server: RunningServer | undefined;

  afterAll(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('installs no development dependency and serves the compiled server', async () => {
    run(process.execPath, ['--import', 'tsx', 'scripts/build-server.ts'], ROOT);
    work = await mkdtemp(join(tmpdir(), 'sparekey-omit-dev-'));
    // What a deployment from a built checkout holds: the manifests, the lockfile and dist/server.
    for (const file of ['package.json', 'package-lock.json']) await cp(join(ROOT, file), join(work, file));
    await cp(join(ROOT, 'dist/server'), join(work, 'dist/server'), { recursive: true });
    // The lockfile names every tarball: npm's cache (filled by `npm ci`) has them all.
    run('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], work);
    const installed = readdirSync(join(work, 'node_modules'));
    for (const tool of ['tsx', 'esbuild', 'web-ext']) expect(installed).not.toContain(tool);

    server = await startServer({
      command: ['npm', 'run', '--silent', 'serve:prod'],
      cwd: work,
      processGroup: true,
    });
    expect((await call(server.url, 'GET', '/healthz/ready')).status).toBe(200);
  });

  it('backs the running server up encrypted (the compiled bundle imports age-encryption) and restores it', () => {
    if (!server) throw new Error('the server of the previous test is not running');
    const keys = keyPair(join(work, 'identity.txt'));
    const node = (script: string, args: string[]) =>
      spawnSync(process.execPath, [`dist/server/${script}.js`, ...args], {
        cwd: work,
        encoding: 'utf8',
        env: {
          ...process.env,
          DATA_DIR: server?.dataDir,
          DATABASE_URL: '',
          // The archive's secrets stay sealed under the server's (generated) storage key.
          STORAGE_ENCRYPTION_KEY_FILE: join(server?.dataDir ?? '', 'storage.key'),
        },
      });
    const to = join(work, 'sparekey.backup.age');
    const backup = node('store-backup', ['--to', to, '--recipient', keys.recipient]);
    expect(backup.stderr).toBe('');
    expect(backup.stdout).toMatch(
      /^Backed up 1 account\(s\) .*\(encrypted to 1 age recipient\(s\)\).* from the running server/,
    );
    const restore = node('store-restore', [
      '--from',
      to,
      '--to',
      join(work, 'restored'),
      '--identity-file',
      keys.identityFile,
    ]);
    expect(restore.stderr).toBe('');
    expect(restore.stdout).toMatch(/^Restored 1 account\(s\)/);
  });
});
