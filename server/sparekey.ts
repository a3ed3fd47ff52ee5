#!/usr/bin/env node
/**
 * `sparekey <command>`: the package's one command (package.json `bin`). It hands each command to its
 * own entry point, the compiled bundle beside it in dist/server/ (or the TypeScript source when run
 * with tsx), with the command's words removed from the arguments so the entry point reads only its
 * own options. The npm scripts (`npm start`, `npm run admin`, `npm run store:check`, …) run the same
 * entry points.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Command {
  summary: string;
  /** The compiled bundle, dist/server/<bundle>.js (scripts/build-server.ts ENTRY_POINTS); none for `checkout`. */
  bundle?: string;
  /** The same entry point's source, relative to server/. */
  source: string;
  /** Answered here for an entry point that does not read --help itself (it would open the store). */
  usage?: string;
  /**
   * Runs only in a SpareKey checkout with its dev dependencies (it builds with esbuild and web-ext,
   * which a production install leaves out): the TypeScript at this path from the package root, via tsx.
   */
  checkout?: string;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the server; its settings come from the environment (README, Configuration)',
    bundle: 'main',
    source: 'main.ts',
    usage:
      'usage: sparekey serve\nRuns the server. It takes no options: every setting comes from the environment.',
  },
  'config check': {
    summary: 'check the settings as serve would, without starting; print them with secrets masked',
    bundle: 'config-check',
    source: 'cli/config-check.ts',
  },
  admin: {
    summary:
      'break-glass account recovery on the server host (reset-mfa, set-password, promote, unlock, list-users)',
    bundle: 'admin',
    source: 'cli/admin.ts',
  },
  'store check': {
    summary: 'list the problems of a lowdb DATA_DIR (--repair quarantines and rebuilds)',
    bundle: 'store-check',
    source: 'cli/store-check.ts',
  },
  'store backup': {
    summary: 'write a backup archive, encrypted with age (--recipient) or --unencrypted',
    bundle: 'store-backup',
    source: 'cli/store-backup.ts',
  },
  'store restore': {
    summary: 'restore a backup archive into an empty store (--identity-file decrypts it)',
    bundle: 'store-restore',
    source: 'cli/store-restore.ts',
  },
  'store migrate': {
    summary: 'copy a lowdb store into PostgreSQL',
    bundle: 'store-migrate',
    source: 'store-migrate.ts',
    usage:
      'usage: sparekey store migrate --from <DATA_DIR> [--to <postgres://…>]\n' +
      'Copies a lowdb store into an empty PostgreSQL database (--to defaults to DATABASE_URL).',
  },
  'store rekey': {
    summary: 're-encrypt the stored secrets under a new storage key (--new-key-file FILE)',
    bundle: 'store-rekey',
    source: 'cli/store-rekey.ts',
  },
  'keys rotate': {
    summary: 'a new OpenID Connect signing key and cookie secret take over (--revoke-previous: at once)',
    bundle: 'keys-rotate',
    source: 'keys-rotate.ts',
  },
  'extension pack': {
    summary: "pack the extension for your organisation's browsers (CRX, update manifest, XPI)",
    source: '../extension/pack.ts',
    checkout: 'extension/pack.ts',
  },
};

const HELP_FLAGS = new Set(['--help', '-h']);

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return `usage: sparekey <command> [options]\n\nCommands:\n${lines.join('\n')}\n\n'sparekey <command> --help' describes one.\n`;
}

function refuse(message: string): never {
  process.stderr.write(`sparekey: ${message}\n`);
  process.exit(2);
}

/** The command the arguments name (one word or two) and the arguments left for it. */
function commandOf(args: string[]): { name: string; command: Command; rest: string[] } | 'help' {
  const [first, second] = args;
  if (first === undefined || HELP_FLAGS.has(first) || first === 'help') return 'help';
  for (const name of [`${first} ${second}`, first]) {
    const command = COMMANDS[name];
    if (command) return { name, command, rest: args.slice(name.split(' ').length) };
  }
  const group = Object.keys(COMMANDS).filter((name) => name.startsWith(`${first} `));
  if (group.length === 0) refuse(`unknown command "${first}" ('sparekey --help' lists the commands)`);
  const subcommands = group.map((name) => name.split(' ')[1]).join(', ');
  if (second === undefined || HELP_FLAGS.has(second)) refuse(`"${first}" needs one of: ${subcommands}`);
  refuse(`unknown command "${first} ${second}" (${first}: ${subcommands})`);
}

/** The package root: the parent of server/ (sources) or of dist/server/ (compiled). */
function packageRoot(): string {
  const fromSource = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(fromSource ? '..' : '../..', import.meta.url));
}

/** A checkout-only command, in a child Node with tsx; its exit code is this command's. */
function runInCheckout(name: string, file: string, rest: string[]): void {
  const root = packageRoot();
  const script = join(root, file);
  let tsx: string;
  try {
    tsx = createRequire(join(root, 'package.json')).resolve('tsx');
  } catch {
    tsx = '';
  }
  if (!existsSync(script) || !tsx) {
    refuse(
      `"${name}" runs in a SpareKey checkout with its dev dependencies (git clone, npm ci), not in an installed package`,
    );
  }
  const child = spawnSync(process.execPath, ['--import', pathToFileURL(tsx).href, script, ...rest], {
    stdio: 'inherit',
  });
  process.exitCode = child.status ?? 1;
}

async function main(): Promise<void> {
  const chosen = commandOf(process.argv.slice(2));
  if (chosen === 'help') {
    process.stdout.write(usage());
    return;
  }
  const { name, command, rest } = chosen;
  if (command.usage && rest.some((arg) => HELP_FLAGS.has(arg))) {
    process.stdout.write(`${command.usage}\n`);
    return;
  }
  if (name === 'serve' && rest.length > 0)
    refuse(`serve takes no options, not "${rest[0]}" (settings come from the environment)`);
  if (command.checkout) return runInCheckout(name, command.checkout, rest);
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? `./${command.source}` : `./${command.bundle}.js`, import.meta.url);
  // The entry point parses process.argv.slice(2): only its own options.
  process.argv = [process.argv[0] ?? 'node', entry.pathname, ...rest];
  await import(entry.href);
}

await main();
