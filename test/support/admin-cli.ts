/** Runs the break-glass commands (`npm run admin`) as an operator would: a child process. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface AdminRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `npm run admin -- …` with the server's DATA_DIR (and `env`); standard input gets `input` and is
 * then closed. `terminal`: run under util-linux script(1), which gives the command a pseudo-terminal
 * (as an operator's shell would) and types `input` into it.
 */
export function runAdmin(
  dataDir: string,
  args: string[],
  {
    input = '',
    terminal = false,
    env = {},
  }: { input?: string; terminal?: boolean; env?: Record<string, string> } = {},
): Promise<AdminRun> {
  const command = ['npm', 'run', '--silent', 'admin', '--', ...args];
  const [file, ...argv] = terminal ? ['script', '-qec', command.join(' '), '/dev/null'] : command;
  const child = spawn(file as string, argv, {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(input);
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}
