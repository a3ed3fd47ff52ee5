/**
 * A throwaway PostgreSQL cluster from the machine's own binaries (Debian: /usr/lib/postgresql/N/bin):
 * initdb and pg_ctl on a temporary directory, a free port, listening on 127.0.0.1 only, trust
 * authentication (nothing else can reach it). initdb refuses to run as root, so as root the cluster
 * belongs to the `postgres` user (runuser). Used by the tests' global setup and by the benchmark.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './server';

const run = promisify(execFile);

export const PG_INSTALL_HINT =
  'PostgreSQL is needed for these tests: apt-get install -y postgresql (Debian), or set PG_BIN to the ' +
  'directory holding initdb and pg_ctl.';

/** The directory holding initdb and pg_ctl: PG_BIN, the newest /usr/lib/postgresql/N/bin, or null. */
export function findPgBin(): string | null {
  const candidates = process.env.PG_BIN ? [process.env.PG_BIN] : [];
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(root, version, 'bin')));
  }
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) ?? null;
}

export interface PgCluster {
  port: number;
  dataDir: string;
  /** A URL for `database` on this cluster, as the superuser `postgres`. */
  url(database?: string): string;
  /** pg_ctl stop: `fast` ends the sessions and shuts down cleanly, `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster and removes its directory. */
  destroy(): Promise<void>;
}

export interface ClusterOptions {
  /** Off for tests (a process crash keeps what was written; only a machine crash would lose it); on for the benchmark. */
  fsync?: boolean;
  maxConnections?: number;
}

export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin) throw new Error(PG_INSTALL_HINT);
  const asRoot = process.getuid?.() === 0;
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']).catch(() => {
      throw new Error(`Running as root, PostgreSQL needs its own user "postgres". ${PG_INSTALL_HINT}`);
    });
    const uid = Number(stdout.trim());
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dataDir, uid, Number(gid.trim()));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);

  await pg('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '-N',
  ]).catch((error: Error & { stderr?: string }) => {
    throw new Error(`initdb failed: ${error.stderr ?? error.message}`);
  });
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    `-c max_connections=${options.maxConnections ?? 300}`,
    `-c fsync=${options.fsync ? 'on' : 'off'}`,
  ].join(' ');
  const start = async () => {
    await pg('pg_ctl', [
      '-D',
      dataDir,
      '-l',
      join(dataDir, 'server.log'),
      '-o',
      settings,
      '-w',
      '-t',
      '60',
      'start',
    ]).catch((error: Error & { stderr?: string }) => {
      throw new Error(`pg_ctl start failed: ${error.stderr ?? error.message}`);
    });
  };
  await start();
  let running = true;
  const cluster: PgCluster = {
    port,
    dataDir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async stop(mode = 'fast') {
      await pg('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await cluster.stop('immediate').catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return cluster;
}
