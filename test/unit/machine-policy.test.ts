/**
 * The helper the install-by-policy tests write machine-wide policy files with (test/support/
 * machine-policy.ts), on a temporary folder: afterwards the machine is as it was, old content and all.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writePolicyFile } from '../support/machine-policy';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sparekey-machine-policy-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a machine policy file written for a test', () => {
  test('where none was: written with the folders it needs, then removed with exactly those folders', async () => {
    const file = join(root, 'etc', 'chromium', 'policies', 'managed', 'sparekey-test.json');
    await mkdir(join(root, 'etc'));
    const policy = await writePolicyFile(file, { DeveloperToolsAvailability: 1 });
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ DeveloperToolsAvailability: 1 });
    await policy.restore();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(root, 'etc', 'chromium'))).toBe(false);
    expect(existsSync(join(root, 'etc'))).toBe(true);
  });

  test("over an administrator's own file: its content comes back byte for byte", async () => {
    const file = join(root, 'firefox', 'policies', 'policies.json');
    await mkdir(join(root, 'firefox', 'policies'), { recursive: true });
    const theirs = '{ "policies": { "DisableTelemetry": true } }\n';
    await writeFile(file, theirs);
    const policy = await writePolicyFile(file, { policies: { ExtensionSettings: {} } });
    expect(await readFile(file, 'utf8')).not.toBe(theirs);
    await policy.restore();
    expect(await readFile(file, 'utf8')).toBe(theirs);
  });
});
