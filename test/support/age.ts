/**
 * Debian's age tools in the encrypted-backup tests: `age-keygen` makes the key pairs (as README tells
 * operators to), `age` decrypts our archives and encrypts ones we must read. .ci/run installs them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MISSING = "Debian's age tools are missing: apt-get install -y age (.ci/run installs them)";

function tool(command: string, args: string[], input?: Buffer) {
  const result = spawnSync(command, args, { input, maxBuffer: 64 * 1024 * 1024 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(MISSING);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result;
}

/** `age ARGS`, with `input` on its standard input; its standard output. */
export function age(args: string[], input?: Buffer): Buffer {
  return tool('age', args, input).stdout;
}

export interface KeyPair {
  /** The identity file age-keygen wrote (0600). */
  identityFile: string;
  /** Its secret key, AGE-SECRET-KEY-1…: what must never be printed. */
  identity: string;
  /** The public key, age1…. */
  recipient: string;
}

/** A new key pair: `age-keygen -o path`. */
export function keyPair(path: string): KeyPair {
  const made = tool('age-keygen', ['-o', path]);
  const recipient = /Public key: (age1\S+)/.exec(made.stderr.toString('utf8'))?.[1];
  const identity = readFileSync(path, 'utf8')
    .split('\n')
    .find((line) => line.startsWith('AGE-SECRET-KEY-1'));
  if (!recipient || !identity) throw new Error(`age-keygen wrote no key pair: ${made.stderr}`);
  return { identityFile: path, identity, recipient };
}
