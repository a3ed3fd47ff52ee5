/**
 * Starts the real server (`node --import tsx server/main.ts`, or the command a test gives, such as the
 * compiled `sparekey serve`) on 127.0.0.1 with a random free port and a temporary DATA_DIR.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface RunningServer {
  url: string;
  dataDir: string;
  adminPassword: string;
  process: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (graceful) by default; resolves with the exit code. Removes the data dir unless keepData. */
  stop(options?: { signal?: NodeJS.Signals; keepData?: boolean }): Promise<number | null>;
}

const ROOT = resolve(import.meta.dirname, '../..');

/** A TCP port of 127.0.0.1 free a moment ago: for a server that must come back on the same address. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

export interface StartOptions {
  env?: Record<string, string>;
  dataDir?: string;
  adminPassword?: string;
  /** What runs the server, in `cwd`: the TypeScript sources through tsx unless a test says otherwise. */
  command?: string[];
  cwd?: string;
  /** Signals go to the command's whole process group (a wrapper such as npx does not pass them on). */
  processGroup?: boolean;
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'sparekey-server-')));
  const adminPassword = options.adminPassword ?? 'admin-password-for-tests';
  const [program = process.execPath, ...args] = options.command ?? [
    process.execPath,
    '--import',
    'tsx',
    'server/main.ts',
  ];
  const child = spawn(program, args, {
    cwd: options.cwd ?? ROOT,
    detached: options.processGroup ?? false,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${output}`)), 30_000);
    const onData = () => {
      for (const line of output.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'listening' && entry.url) {
            clearTimeout(timer);
            child.stdout?.off('data', onData);
            resolveUrl(entry.url);
            return;
          }
        } catch {
          // a partial line: wait for the rest
        }
      }
    };
    child.stdout?.on('data', onData);
    // 'close', not 'exit': only then has all of its output been read, the line saying why included.
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });

  return {
    url,
    dataDir,
    adminPassword,
    process: child,
    output: () => output,
    async stop({ signal = 'SIGTERM', keepData = false } = {}) {
      const exited = new Promise<number | null>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode);
        else child.once('exit', (code) => done(code));
      });
      if (options.processGroup && child.pid) process.kill(-child.pid, signal);
      else child.kill(signal);
      const code = await exited;
      if (!keepData && !options.dataDir) await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

export type Target = string | ((request: Request) => Response | Promise<Response>);

/**
 * A tiny JSON client for tests: a base URL (the real server over HTTP) or a fetch function (the app
 * in process, e.g. `app.fetch`). Returns status, parsed body and headers.
 */
export async function call(
  target: Target,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const init = {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  };
  const response =
    typeof target === 'string'
      ? await fetch(new URL(path, target), init)
      : await target(new Request(new URL(path, 'http://127.0.0.1'), init));
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  // biome-ignore lint/suspicious/noExplicitAny: tests read fields of arbitrary responses.
  return { status: response.status, body: body as any, headers: response.headers };
}
