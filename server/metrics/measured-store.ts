/**
 * A Store that measures the one it wraps, for any adapter: how long each write takes to become
 * durable, which audit events were recorded, and which sessions were opened. Reads pass straight
 * through. A method added to the Store later is measured as a write unless it is listed as a read.
 */
import type { LowdbStore } from '../store/lowdb';
import type { NewAuditEvent, Store, TokenRecord, UserChange, UserRecord } from '../store/types';
import type { Metrics } from './metrics';

// Typed by the Store's own names (and lowdb's backup read), so a renamed method cannot silently turn into a "write".
const READS = new Set<string>([
  'open',
  'close',
  'ping',
  'getPolicy',
  'countUsers',
  'listAdminIds',
  'listUsers',
  'getUser',
  'findUserByUsername',
  'getToken',
  'countIpFailures',
  'listAudit',
  'pageAudit',
  'exportAudit',
  'listDamaged',
  'listApplications',
  'getApplication',
  'findApplicationByClientId',
  'getOidcKeys',
  'oidcGet',
  'oidcFindByUid',
  'oidcFindByUserCode',
  // lowdb's backups (control socket): a read of everything, not a write.
  'exportBackup',
] satisfies (keyof Store | keyof LowdbStore)[]);

type Observer = Pick<Metrics, 'countEvent' | 'sessionStarted' | 'storeWrite'>;

/** What a write that succeeded tells beyond its duration. */
function afterWrite(metrics: Observer, operation: string, args: unknown[]): void {
  if (operation === 'appendAudit') metrics.countEvent(args[0] as NewAuditEvent);
  if (operation === 'putToken') {
    const token = args[0] as TokenRecord;
    // A new session is written with lastSeenAt = createdAt; a later touch moves lastSeenAt on.
    if (token.kind === 'session' && token.lastSeenAt === token.createdAt) metrics.sessionStarted();
  }
}

/**
 * The arguments of a user's change (UserChange), its `change` watched for the audit events it commits
 * with the record: counted, like appendAudit's, once the write has succeeded.
 */
function watchCommittedEvents(operation: string, args: unknown[], committed: NewAuditEvent[]): unknown[] {
  if (operation !== 'updateUser' && operation !== 'updateUserKeepingAnAdmin') return args;
  const [id, change] = args as [string, (user: UserRecord) => UserChange<unknown>];
  return [
    id,
    (user: UserRecord) => {
      const made = change(user);
      // The last call is the one committed (a store may call `change` again after a retry).
      committed.splice(0, committed.length, ...(made.audit ?? []));
      return made;
    },
  ];
}

export function measuredStore(store: Store, metrics: Observer): Store {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof property !== 'string' || typeof value !== 'function' || READS.has(property)) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (...args: unknown[]) => {
        const committed: NewAuditEvent[] = [];
        const started = performance.now();
        const result = await value.apply(target, watchCommittedEvents(property, args, committed));
        metrics.storeWrite(property, (performance.now() - started) / 1000);
        afterWrite(metrics, property, args);
        for (const event of committed) metrics.countEvent(event);
        return result;
      };
    },
  });
}
