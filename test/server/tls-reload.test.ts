/**
 * Certificate renewal on the real server over HTTPS: SIGHUP reads TLS_CERT_FILE and TLS_KEY_FILE
 * again. A keep-alive connection opened before keeps its connection and certificate; a new connection
 * is served the new certificate (told apart by the peer certificate's SHA-256 fingerprint). New files
 * that are missing, damaged or not a pair leave the certificate in use serving, with one log line
 * naming the file and why. An encrypted key opens with TLS_KEY_PASSPHRASE_FILE, at start and on
 * reload. Without TLS, SIGHUP only says there is nothing to reload (the signal no longer ends it).
 */
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../support/certificate';
import { type RunningServer, startServer } from '../support/server';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sparekey-tls-reload-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Pair = ReturnType<typeof makeCertificate>;

/** A new certificate and key in a folder of their own, as a renewal writes them. */
async function newPair(name: string, passphraseFile?: string): Promise<Pair> {
  const folder = join(dir, name);
  await mkdir(folder);
  return makeCertificate(folder, { name, passphraseFile });
}

/** The files the server reads, replaced as certbot does: each written beside and renamed over. */
async function install(
  live: { cert: string; key: string },
  files: { cert: string | null; key: string | null },
) {
  for (const which of ['cert', 'key'] as const) {
    const source = files[which];
    if (source === null) {
      await unlink(live[which]).catch(() => undefined);
      continue;
    }
    await copyFile(source, `${live[which]}.new`);
    await rename(`${live[which]}.new`, live[which]);
  }
}

interface Reply {
  status: number;
  /** The SHA-256 fingerprint of the certificate the server presented on this connection. */
  fingerprint: string;
  /** Whether the request went on a connection opened before it. */
  reused: boolean;
}

/** GET /healthz/ready over `agent`'s connections, trusting only our throwaway certificates. */
function get(url: string, agent: Agent): Promise<Reply> {
  return new Promise((done, fail) => {
    const req = request(new URL('/healthz/ready', url), { agent }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => done({ status: res.statusCode ?? 0, fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** The log lines with this message, parsed. */
function entries(server: RunningServer, msg: string): Record<string, string>[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, string>)
    .filter((entry) => entry.msg === msg);
}

/** SIGHUP, then the log line it caused (the `msg` line after those already written). */
async function hangUp(server: RunningServer, msg: string): Promise<Record<string, string>> {
  const before = entries(server, msg).length;
  server.process.kill('SIGHUP');
  const deadline = Date.now() + 10_000;
  while (entries(server, msg).length === before) {
    if (Date.now() > deadline) throw new Error(`no "${msg}" line after SIGHUP:\n${server.output()}`);
    const { exitCode, signalCode } = server.process;
    if (exitCode !== null || signalCode !== null) {
      throw new Error(`the server ended (${exitCode ?? signalCode}):\n${server.output()}`);
    }
    await new Promise((wait) => setTimeout(wait, 20));
  }
  return entries(server, msg)[before] as Record<string, string>;
}

/** The base64 body of a PEM file: what a log line must never carry. */
const keyMaterial = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line && !line.startsWith('-----'));

describe('SIGHUP with TLS_CERT_FILE and TLS_KEY_FILE', () => {
  let first: Pair;
  let second: Pair;
  let live: { cert: string; key: string };
  let server: RunningServer;
  /** Every certificate this run makes, trusted by the clients. */
  const trusted: string[] = [];
  const agent = (options: { keepAlive?: boolean } = {}) =>
    new Agent({ ca: trusted, keepAlive: options.keepAlive ?? false, maxSockets: 1 });
  const pair = async (name: string) => {
    const made = await newPair(name);
    trusted.push(readFileSync(made.cert, 'utf8'));
    return made;
  };

  beforeAll(async () => {
    first = await pair('first');
    second = await pair('second');
    await mkdir(join(dir, 'live'));
    live = { cert: join(dir, 'live', 'cert.pem'), key: join(dir, 'live', 'key.pem') };
    await install(live, first);
    server = await startServer({ env: { TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a keep-alive connection opened before keeps working; new connections get the new certificate', async () => {
    const kept = agent({ keepAlive: true });
    try {
      const before = await get(server.url, kept);
      expect(before).toEqual({ status: 200, fingerprint: first.fingerprint256, reused: false });

      await install(live, second);
      const reloaded = await hangUp(server, 'TLS certificate reloaded');
      expect(reloaded).toMatchObject({
        level: 'info',
        certFile: live.cert,
        subject: 'CN=second',
        fingerprint256: second.fingerprint256,
      });
      // Renewed today for a day: the expiry an operator reads, in the log's own time format.
      expect(reloaded.validTo).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(Date.parse(reloaded.validTo ?? '')).toBeGreaterThan(Date.now());
      expect(Date.parse(reloaded.validTo ?? '')).toBeLessThan(Date.now() + 2 * 86_400_000);

      // The same connection, still open, still on the certificate it was opened with.
      expect(await get(server.url, kept)).toEqual({
        status: 200,
        fingerprint: first.fingerprint256,
        reused: true,
      });
      const fresh = agent();
      try {
        expect(await get(server.url, fresh)).toEqual({
          status: 200,
          fingerprint: second.fingerprint256,
          reused: false,
        });
      } finally {
        fresh.destroy();
      }
    } finally {
      kept.destroy();
    }
  });

  it('requests keep being answered while reloads happen among them', async () => {
    // Starts from the second pair, served since the test above; ends on it too.
    let reloading = true;
    const fingerprints = new Set<string>();
    const failures: string[] = [];
    const client = async () => {
      while (reloading) {
        const fresh = agent();
        try {
          const reply = await get(server.url, fresh);
          if (reply.status === 200) fingerprints.add(reply.fingerprint);
          else failures.push(String(reply.status));
        } catch (error) {
          failures.push(String(error));
        } finally {
          fresh.destroy();
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    for (const files of [first, second, first, second]) {
      await install(live, files);
      await hangUp(server, 'TLS certificate reloaded');
      // The clients reach the pair just loaded before the next reload replaces it.
      fingerprints.clear();
      const deadline = Date.now() + 10_000;
      while (!fingerprints.has(files.fingerprint256) && Date.now() < deadline) {
        await new Promise((wait) => setTimeout(wait, 10));
      }
      expect(fingerprints.has(files.fingerprint256)).toBe(true);
    }
    reloading = false;
    await Promise.all(clients);
    expect(failures).toEqual([]);
  });

  it('new files missing, damaged or not a pair: the certificate in use stays, one line says which file and why', async () => {
    // Starts from the second pair, served since the test above.
    const third = await pair('third');
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a PEM file\n');
    const cases: [{ cert: string | null; key: string | null }, string][] = [
      [{ cert: null, key: third.key }, `TLS_CERT_FILE ${live.cert} cannot be read: ENOENT.`],
      [{ cert: garbage, key: third.key }, `TLS_CERT_FILE ${live.cert} does not hold a PEM certificate`],
      [{ cert: third.cert, key: garbage }, `TLS_KEY_FILE ${live.key} does not hold a PEM private key`],
      // Half a renewal: the new certificate already in place, the key not yet.
      [
        { cert: third.cert, key: second.key },
        `TLS_CERT_FILE ${live.cert} and TLS_KEY_FILE ${live.key} do not match: the certificate is for another key.`,
      ],
    ];
    for (const [files, expected] of cases) {
      await install(live, files);
      const refused = await hangUp(server, 'TLS certificate not reloaded: still serving the previous one');
      expect(refused.level).toBe('error');
      expect(refused.error).toContain(expected);
      const fresh = agent();
      try {
        expect(await get(server.url, fresh), expected).toEqual({
          status: 200,
          fingerprint: second.fingerprint256,
          reused: false,
        });
      } finally {
        fresh.destroy();
      }
    }

    // Once the files are whole again, the next SIGHUP takes them.
    await install(live, third);
    expect(await hangUp(server, 'TLS certificate reloaded')).toMatchObject({
      subject: 'CN=third',
      fingerprint256: third.fingerprint256,
    });
    const fresh = agent();
    try {
      expect((await get(server.url, fresh)).fingerprint).toBe(third.fingerprint256);
    } finally {
      fresh.destroy();
    }
    const logs = server.output();
    for (const key of [first.key, second.key, third.key]) {
      for (const line of keyMaterial(key)) expect(logs.includes(line), 'key material in the log').toBe(false);
    }
  });
});

describe('an encrypted key with TLS_KEY_PASSPHRASE_FILE', () => {
  it('is opened at start and on reload, and its passphrase is never logged', async () => {
    const passphrase = 'a-key-passphrase-from-a-file-31';
    const passphraseFile = join(dir, 'key-passphrase');
    await writeFile(passphraseFile, `${passphrase}\n`, { mode: 0o600 });
    const before = await newPair('encrypted-before', passphraseFile);
    const after = await newPair('encrypted-after', passphraseFile);
    expect(readFileSync(before.key, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const trusted = [before, after].map((made) => readFileSync(made.cert, 'utf8'));
    await mkdir(join(dir, 'live-encrypted'));
    const live = {
      cert: join(dir, 'live-encrypted', 'cert.pem'),
      key: join(dir, 'live-encrypted', 'key.pem'),
    };
    await install(live, before);
    const server = await startServer({
      env: { TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key, TLS_KEY_PASSPHRASE_FILE: passphraseFile },
    });
    try {
      const first = new Agent({ ca: trusted });
      expect(await get(server.url, first)).toMatchObject({ status: 200, fingerprint: before.fingerprint256 });
      first.destroy();

      await install(live, after);
      expect(await hangUp(server, 'TLS certificate reloaded')).toMatchObject({
        subject: 'CN=encrypted-after',
      });
      const second = new Agent({ ca: trusted });
      expect(await get(server.url, second)).toMatchObject({ status: 200, fingerprint: after.fingerprint256 });
      second.destroy();
      expect(server.output()).not.toContain(passphrase);
    } finally {
      await server.stop();
    }
  });
});

describe('SIGHUP without TLS', () => {
  it('logs that there is nothing to reload and goes on serving', async () => {
    const server = await startServer();
    try {
      const line = await hangUp(server, 'SIGHUP: nothing to reload');
      expect(line.reason).toContain('TLS_CERT_FILE and TLS_KEY_FILE are not set');
      const ready = await fetch(new URL('/healthz/ready', server.url));
      expect(ready.status).toBe(200);
      expect(server.process.exitCode).toBeNull();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
