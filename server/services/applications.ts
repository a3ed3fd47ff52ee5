/**
 * Applications: the OpenID Connect clients an admin registers. A confidential one gets a client
 * secret, shown once; SpareKey keeps only its SHA-256 (server/oidc/provider.ts compares against it).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type {
  Application,
  CreateApplicationRequest,
  CreatedApplication,
  UpdateApplicationRequest,
} from '../../shared/api';
import type { Deps, RequestMeta } from '../deps';
import { ApiError, notFound } from '../http/errors';
import type { ApplicationRecord, UserRecord } from '../store/types';
import { audit } from './audit';

/**
 * 256 random bits: a fast hash is then as good as a slow one (nothing to guess), and it keeps each
 * token request cheap.
 */
export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

const newSecret = () => randomBytes(32).toString('base64url');

export function applicationView(app: ApplicationRecord): Application {
  return {
    id: app.id,
    clientId: app.clientId,
    name: app.name,
    type: app.type,
    redirectUris: app.redirectUris,
    postLogoutRedirectUris: app.postLogoutRedirectUris,
    createdAt: app.createdAt,
  };
}

const details = (app: ApplicationRecord) => ({
  applicationId: app.id,
  clientId: app.clientId,
  name: app.name,
});

export async function listApplications(deps: Deps): Promise<Application[]> {
  const apps = await deps.store.listApplications();
  return apps.map(applicationView).sort((a, b) => a.name.localeCompare(b.name));
}

export async function createApplication(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord,
  input: Required<CreateApplicationRequest>,
): Promise<CreatedApplication> {
  const now = new Date(deps.clock.now()).toISOString();
  const secret = input.type === 'confidential' ? newSecret() : null;
  const app: ApplicationRecord = {
    id: randomUUID(),
    // Unguessable, so a client id alone reveals nothing about which applications exist.
    clientId: randomBytes(16).toString('base64url'),
    name: input.name,
    type: input.type,
    redirectUris: input.redirectUris,
    postLogoutRedirectUris: input.postLogoutRedirectUris,
    secretHash: secret ? hashClientSecret(secret) : null,
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.createApplication(app);
  await audit(deps, meta, 'application_created', {
    actor: admin,
    details: { ...details(app), type: app.type },
  });
  return { application: applicationView(app), ...(secret ? { clientSecret: secret } : {}) };
}

export async function updateApplication(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord,
  id: string,
  input: UpdateApplicationRequest,
): Promise<Application> {
  const now = new Date(deps.clock.now()).toISOString();
  const updated = await deps.store.updateApplication(id, (app) => ({
    ...app,
    ...(input.name === undefined ? {} : { name: input.name }),
    ...(input.redirectUris === undefined ? {} : { redirectUris: input.redirectUris }),
    ...(input.postLogoutRedirectUris === undefined
      ? {}
      : { postLogoutRedirectUris: input.postLogoutRedirectUris }),
    updatedAt: now,
  }));
  if (!updated) throw notFound('Application');
  await audit(deps, meta, 'application_updated', {
    actor: admin,
    details: { ...details(updated), changed: Object.keys(input).sort().join(',') },
  });
  return applicationView(updated);
}

/** A new secret for a confidential application; the old one stops working at once. */
export async function rotateSecret(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord,
  id: string,
): Promise<string> {
  const secret = newSecret();
  const now = new Date(deps.clock.now()).toISOString();
  let isPublic = false;
  const updated = await deps.store.updateApplication(id, (app) => {
    isPublic = app.type === 'public';
    return isPublic ? app : { ...app, secretHash: hashClientSecret(secret), updatedAt: now };
  });
  if (!updated) throw notFound('Application');
  if (isPublic) {
    throw new ApiError(409, 'public_application', 'A public application has no client secret: it uses PKCE.');
  }
  await audit(deps, meta, 'application_secret_rotated', { actor: admin, details: details(updated) });
  return secret;
}

/** Deletes the application; from then on its tokens are refused (the provider no longer finds the client). */
export async function deleteApplication(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord,
  id: string,
): Promise<void> {
  const removed = await deps.store.deleteApplication(id);
  if (!removed) throw notFound('Application');
  await audit(deps, meta, 'application_deleted', { actor: admin, details: details(removed) });
}
