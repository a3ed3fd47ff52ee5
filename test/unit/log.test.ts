/**
 * The process's log lines go to standard output together, once per turn of the event loop: none is
 * lost, none is split or reordered, including the lines written just before the process exits.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function runLogging(script: string): string[] {
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  expect(run.stderr).toBe('');
  return run.stdout.split('\n').filter(Boolean);
}

describe('the process logger', () => {
  it('writes every line, whole and in order, across turns and right before an exit', () => {
    const lines = runLogging(`
      import { jsonLogger } from './server/log.ts';
      const log = jsonLogger();
      log.info('first', { n: 1 });
      log.info('second', { n: 2 });
      setImmediate(() => {
        log.error('third', { n: 3 });
        log.info('last before exit', { n: 4 });
        process.exit(3);
      });
    `);
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([
      { level: 'info', msg: 'first', n: 1 },
      { level: 'info', msg: 'second', n: 2 },
      { level: 'error', msg: 'third', n: 3 },
      { level: 'info', msg: 'last before exit', n: 4 },
    ]);
  });
});
