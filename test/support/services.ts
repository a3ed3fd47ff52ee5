/** For tests that call the services directly: a request's metadata, the error a call is refused with, the audit trail. */
import type { Deps, RequestMeta } from '../../server/deps';
import type { ApiError } from '../../server/http/errors';

export const IP = '203.0.113.9';
export const META: RequestMeta = { ip: IP, userAgent: 'test' };

/** The ApiError `action` rejects with; fails the test when it succeeds. */
export async function refusal(action: Promise<unknown>): Promise<ApiError> {
  try {
    await action;
  } catch (error) {
    return error as ApiError;
  }
  throw new Error('expected a refusal');
}

/** The audit events of one type, newest first. */
export async function auditEvents(deps: Deps, type: string) {
  return (await deps.store.listAudit({ limit: 50 })).filter((event) => event.type === type);
}
