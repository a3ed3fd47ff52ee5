/**
 * `sparekey config check`: the environment checked exactly as `sparekey serve` checks it before it
 * writes anything (server/config.ts, then server/startup.ts's DATA_DIR check and server/tls.ts's TLS files), without
 * binding a port, opening the store or creating DATA_DIR. On success it prints the effective
 * settings, secrets masked; on the first problem one line naming the setting, exit 1.
 */
import { resolve } from 'node:path';
import { loadConfig } from '../config';
import { effectiveSettings } from '../config-summary';
import { checkDataDir } from '../startup';
import { checkStorageKeySetting } from '../storage-key';
import { readTlsFiles } from '../tls';
import { parseCommand, run } from './args';

const USAGE = `usage: sparekey config check
Checks the server's settings (the environment, as 'sparekey serve' reads it) without starting it:
the values, DATA_DIR (a directory only this user can write to, or not created yet), the TLS
certificate and key (readable, opened by TLS_KEY_PASSPHRASE if encrypted, and a pair),
EXTENSION_DIR. Prints the effective settings with every secret masked, or one line naming the
first setting to fix (exit 1). It writes nothing.`;

run(async () => {
  const values = parseCommand(USAGE, {});
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The same checks, in the same order, as `sparekey serve` before it binds its port (server/main.ts).
  const config = loadConfig();
  await checkDataDir(resolve(config.dataDir));
  checkStorageKeySetting(config);
  if (config.tls) readTlsFiles(config.tls);
  const warnings = config.warnings.map((warning) => `warning: ${warning}\n`).join('');
  const lines = effectiveSettings(config).map(([name, value]) => `${name}=${value}\n`);
  process.stdout.write(`${lines.join('')}${warnings}The configuration is valid.\n`);
  return 0;
});
