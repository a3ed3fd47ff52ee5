/**
 * What one sign-in attempt costs in round trips to PostgreSQL (issue #21): the statements the real
 * server sends, BEGIN and COMMIT included, read off the wire between it and the database. Each one
 * is a wait on the network and the database that every attempt, an attacker's included, pays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  type BenchUser,
  createTotpUser,
  enableBackupCodes,
  generateCodes,
  signInWithTotp,
  startMfa,
} from '../../bench/accounts';
import { call, type RunningServer, startServer } from '../support/server';
import { createDatabase } from './databases';
import { postgresEnv } from './servers';
import { startWireTally, type WireTally } from './wire-tally';

describe('round trips of one sign-in attempt on PostgreSQL', () => {
  let tally: WireTally;
  let server: RunningServer;
  let user: BenchUser;
  /** A second account, its MFA lockout untouched by the failures above: a spend writes only the code. */
  let spender: BenchUser;
  let codes: string[];

  beforeAll(async () => {
    tally = await startWireTally(await createDatabase('trips'));
    server = await startServer({ env: postgresEnv(tally.url) });
    const admin = await adminToken(server);
    await enableBackupCodes(server, admin, 10);
    user = await createTotpUser(server, admin, 'counted');
    await generateCodes(server, user, await signInWithTotp(server, user));
    spender = await createTotpUser(server, admin, 'spender');
    codes = await generateCodes(server, spender, await signInWithTotp(server, spender));
  });
  afterAll(async () => {
    await server?.stop();
    await tally?.close();
  });

  /** The statements `request` made the server send, with its answer. */
  async function statementsOf<T>(request: () => Promise<T>): Promise<{ answer: T; statements: string[] }> {
    const before = tally.statements().length;
    const answer = await request();
    return { answer, statements: tally.statements().slice(before) };
  }

  /**
   * Before migration 008 (for docs and the report): a wrong backup code 14, a wrong password 17, an
   * unknown name 17, a right password 22, a right backup code 21. The reservation was five (BEGIN,
   * lock, count, insert, COMMIT), each locked change of a user or an unknown name five (BEGIN, lock,
   * read, write, COMMIT), a release four.
   */
  const expectTrips = (statements: string[], trips: number) =>
    expect(statements, statements.join('\n---\n')).toHaveLength(trips);

  it('a wrong backup code: 9 (reservation 1, challenge 1, user 1, policy 1, lockout 4, audit 1)', async () => {
    const mfaToken = await startMfa(server, user);
    const { answer, statements } = await statementsOf(() =>
      call(server.url, 'POST', '/api/auth/mfa', {
        body: { mfaToken, method: 'backup_code', code: 'AAAAA-AAAAA' },
      }),
    );
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('invalid_code');
    expectTrips(statements, 9);
    // The lockout's change is one transaction that writes the users row once and nothing else.
    expect(statements.filter((text) => /^\s*(INSERT|UPDATE|DELETE)/.test(text))).toEqual([
      expect.stringMatching(/^UPDATE users SET mfa_failures = .* WHERE id = \$1$/),
      expect.stringMatching(/^INSERT INTO audit_events/),
    ]);
  });

  it('a wrong password: 11 (reservation 1, user 1, lockout reserved 4 and settled 4, audit 1)', async () => {
    const { answer, statements } = await statementsOf(() =>
      call(server.url, 'POST', '/api/auth/login', { body: { username: user.username, password: 'wrong' } }),
    );
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('invalid_credentials');
    expectTrips(statements, 11);
  });

  it('an unknown name: as many as a wrong password, so the timing does not tell them apart', async () => {
    const { answer, statements } = await statementsOf(() =>
      call(server.url, 'POST', '/api/auth/login', { body: { username: 'nobody', password: 'wrong' } }),
    );
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('invalid_credentials');
    expectTrips(statements, 11);
  });

  it("a right password: 13 (the wrong one's, without the audit, with a release, policy and challenge)", async () => {
    const { answer, statements } = await statementsOf(() =>
      call(server.url, 'POST', '/api/auth/login', {
        body: { username: user.username, password: user.password },
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('mfa_required');
    expectTrips(statements, 13);
  });

  it("a right backup code: 13 (the wrong one's, then a release, the challenge taken, a session, two audits)", async () => {
    const mfaToken = await startMfa(server, spender);
    const { answer, statements } = await statementsOf(() =>
      call(server.url, 'POST', '/api/auth/mfa', {
        body: { mfaToken, method: 'backup_code', code: codes[0] },
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.backupCodes).toEqual({ remaining: 9 });
    expectTrips(statements, 13);
  });
});
