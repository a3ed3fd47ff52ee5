/** Runs one of the project's command-line tools (server/cli/*.ts) as `npm run` would, and collects what it printed. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Standard input gets `input` and is then closed. `terminal`: run under util-linux script(1), which
 * gives the command a pseudo-terminal (as an operator's shell would) and types `input` into it; what
 * the command writes to either stream then arrives on stdout.
 */
export function runCli(
  script: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string; terminal?: boolean } = {},
): Promise<CliResult> {
  return runScript(`server/cli/${script}.ts`, args, options);
}

/** As runCli, for a command outside server/cli (`server/keys-rotate.ts`). */
export function runScript(
  path: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string; terminal?: boolean } = {},
): Promise<CliResult> {
  const command = [process.execPath, '--import', 'tsx', path, ...args];
  const [file, ...argv] = options.terminal ? ['script', '-qec', command.join(' '), '/dev/null'] : command;
  return new Promise((done, fail) => {
    const child = spawn(file as string, argv, {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', fail);
    // 'close', not 'exit': the output is complete only once the streams end.
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** `npm run admin -- …` (break-glass) on the lowdb store in `dataDir`, unless `env` names a DATABASE_URL. */
export function runAdmin(
  dataDir: string,
  args: string[],
  options: { input?: string; terminal?: boolean; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return runCli('admin', args, { ...options, env: { DATA_DIR: dataDir, DATABASE_URL: '', ...options.env } });
}
