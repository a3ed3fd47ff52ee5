import type { AuditEventType } from '../../shared/api';
import type { Deps, RequestMeta } from '../deps';
import type { NewAuditEvent, UserRecord } from '../store/types';

type Details = Record<string, string | number | boolean | null>;

type Who = Pick<UserRecord, 'id' | 'username'>;

const ref = (user: Who | null | undefined) => (user ? { id: user.id, username: user.username } : null);

/**
 * One event, as appended by audit() or committed with a user's change (UserChange.audit). Callers
 * pass only non-secret details: never a code, password or token. A change made on the server host
 * (`npm run admin`) has no actor and is marked `via: 'host'`.
 */
export function auditEvent(
  deps: Deps,
  meta: RequestMeta,
  type: AuditEventType,
  parts: { actor?: Who | null; subject?: Who | null; details?: Details } = {},
): NewAuditEvent {
  const details = meta.via ? { ...parts.details, via: meta.via } : parts.details;
  return {
    at: new Date(deps.clock.now()).toISOString(),
    type,
    actor: ref(parts.actor),
    subject: ref(parts.subject),
    ip: meta.ip,
    userAgent: meta.userAgent,
    ...(details ? { details } : {}),
  };
}

/** Appends one event (see auditEvent). */
export function audit(
  deps: Deps,
  meta: RequestMeta,
  type: AuditEventType,
  parts: { actor?: Who | null; subject?: Who | null; details?: Details } = {},
) {
  return deps.store.appendAudit(auditEvent(deps, meta, type, parts));
}
