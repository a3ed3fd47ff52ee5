import type { AuditEventType } from '../../shared/api';
import type { Deps, RequestMeta } from '../deps';
import type { UserRecord } from '../store/types';

type Details = Record<string, string | number | boolean | null>;

const ref = (user: UserRecord | null | undefined) => (user ? { id: user.id, username: user.username } : null);

/**
 * Appends one event. Callers pass only non-secret details: never a code, password or token. A change
 * made on the server host (`npm run admin`) has no actor and is marked `via: 'host'`.
 */
export function audit(
  deps: Deps,
  meta: RequestMeta,
  type: AuditEventType,
  parts: { actor?: UserRecord | null; subject?: UserRecord | null; details?: Details } = {},
) {
  const details = meta.via ? { ...parts.details, via: meta.via } : parts.details;
  return deps.store.appendAudit({
    at: new Date(deps.clock.now()).toISOString(),
    type,
    actor: ref(parts.actor),
    subject: ref(parts.subject),
    ip: meta.ip,
    userAgent: meta.userAgent,
    ...(details ? { details } : {}),
  });
}
