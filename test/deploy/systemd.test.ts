/**
 * deploy/sparekey.service as systemd reads it: `systemd-analyze verify` accepts it without a single
 * warning, its offline security review rates it OK, it runs what the tarball installs, and it has
 * the hardening docs/OPERATIONS.md promises. (systemd is not PID 1 here: verify and the review read files.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const UNIT = readFileSync(join(ROOT, 'deploy/sparekey.service'), 'utf8');
const INSTALLED = '/opt/sparekey/node_modules/sparekey/';

function systemdAnalyze(args: string[]) {
  const result = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(
      'systemd-analyze is missing: install the Debian package "systemd" (apt-get install -y systemd; .ci/run does it)',
    );
  }
  return result;
}

/** The unit's settings, each key with every value it is given. */
function settings(unit: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match?.[1]) found.set(match[1], [...(found.get(match[1]) ?? []), match[2] ?? '']);
  }
  return found;
}

describe('deploy/sparekey.service', () => {
  let dir: string;
  let unitFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sparekey-unit-'));
    unitFile = join(dir, 'sparekey.service');
    // verify checks that ExecStart's program exists: this machine's node stands in for /usr/bin/node.
    await writeFile(unitFile, UNIT.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes systemd-analyze verify with no warning', () => {
    const result = systemdAnalyze(['verify', unitFile]);
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });

  it('fails verify when a setting is malformed (the check reads the unit)', async () => {
    const broken = join(dir, 'broken.service');
    await writeFile(
      broken,
      readFileSync(unitFile, 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivileges=maybe'),
    );
    expect(systemdAnalyze(['verify', broken]).stderr).toContain('Failed to parse boolean value');
  });

  it('is rated OK (exposure below 2) by the offline security review', () => {
    const result = systemdAnalyze(['security', '--offline=true', '--no-pager', unitFile]);
    expect(result.status, result.stderr).toBe(0);
    const exposure = /Overall exposure level for sparekey\.service: (\d+\.\d+) (\w+)/.exec(result.stdout);
    expect(exposure?.[2]).toBe('OK');
    expect(Number(exposure?.[1])).toBeLessThan(2);
  });

  it('runs the installed package’s `sparekey serve` with its own user, state directory, reload by SIGHUP and hardening', () => {
    const unit = settings(UNIT);
    const bin = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { sparekey: string } }
    ).bin.sparekey;
    expect(unit.get('ExecStart')).toEqual([`/usr/bin/node --enable-source-maps ${INSTALLED}${bin} serve`]);
    expect(unit.get('DynamicUser')).toEqual(['yes']);
    expect(unit.get('User')).toEqual(['sparekey']);
    expect(unit.get('StateDirectory')).toEqual(['sparekey']);
    expect(unit.get('Environment')?.join(' ')).toContain('DATA_DIR=%S/sparekey');
    expect(unit.get('EnvironmentFile')).toEqual(['/etc/sparekey/sparekey.env']);
    // `systemctl reload` sends SIGHUP, which reloads the TLS certificate (test/server/tls-reload.test.ts).
    expect(unit.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['CapabilityBoundingSet', ''],
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
      ['SystemCallFilter', '@system-service'],
      // V8's JIT needs to make generated code executable: see the unit's comment.
      ['MemoryDenyWriteExecute', 'no'],
    ] as const) {
      expect(unit.get(key), key).toEqual([value]);
    }
  });
});
