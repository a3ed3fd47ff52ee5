/**
 * The one module that talks to the SpareKey server (contract: docs/API.md, shared/api.ts).
 * Types only from shared/api: zod stays out of the bundle.
 */
import type {
  AdminUsers,
  Applications,
  AuditEvents,
  AuditEventType,
  AuditExportFormat,
  ChangedPassword,
  CreateApplicationRequest,
  CreatedApplication,
  CreateUserRequest,
  GeneratedCodes,
  LoginResponse,
  Me,
  MfaMethod,
  Policy,
  ResetPassword,
  RotatedSecret,
  SessionResponse,
  UnlockedUser,
  UpdateApplicationRequest,
  UpdatedApplication,
  UpdatedUser,
  UpdateUserRequest,
  User,
} from '../../shared/api';

export class ApiError extends Error {
  constructor(
    /** HTTP status, 0 when the server could not be reached. */
    readonly status: number,
    /** The server's snake_case code, or `unreachable`. */
    readonly code: string,
    message: string,
    /** From Retry-After on 429: seconds until the lockout ends. */
    readonly retryAfterSeconds: number | null = null,
    /** The request field the error is about, as a dotted path (e.g. `backupCodes.count`). */
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const UNREACHABLE = 'unreachable';

function retryAfter(res: Response): number | null {
  const value = res.headers.get('Retry-After');
  if (value === null) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function errorOf(body: unknown): { code: string; message: string; field: string | null } | null {
  if (typeof body !== 'object' || body === null || !('error' in body)) return null;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, field } = error as { code?: unknown; message?: unknown; field?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  return { code, message, field: typeof field === 'string' ? field : null };
}

export type Api = ReturnType<typeof createApi>;

/** Tells the server a request is the background's own polling, not the user (docs/API.md). */
export const BACKGROUND_HEADER = 'X-SpareKey-Background';

export interface ApiOptions {
  /**
   * Set for requests the background makes on its own (polls, syncs): the server then does not count
   * them as activity, so an idle session still expires while the extension keeps watching.
   */
  background?: boolean;
}

/** A client for one server; `token` is the session token when signed in. */
export function createApi(serverUrl: string, token: string | null = null, options: ApiOptions = {}) {
  const base = serverUrl.replace(/\/+$/, '');

  /** Sends one request; resolves with the response when it is a success, else throws ApiError. */
  async function send(
    method: string,
    path: string,
    body?: unknown,
    accept = 'application/json',
  ): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.background) headers[BACKGROUND_HEADER] = '1';
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, UNREACHABLE, 'The server cannot be reached.');
    }
    if (!res.ok) {
      const error = errorOf(await res.json().catch(() => null));
      throw new ApiError(
        res.status,
        error?.code ?? `http_${res.status}`,
        error?.message ?? `The server answered ${res.status}.`,
        res.status === 429 ? retryAfter(res) : null,
        error?.field ?? null,
      );
    }
    return res;
  }

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await send(method, path, body);
    if (res.status === 204) return undefined as T;
    return (await res.json().catch(() => null)) as T;
  }

  const userPath = (id: string) => `/api/admin/users/${encodeURIComponent(id)}`;
  const applicationPath = (id: string) => `/api/admin/applications/${encodeURIComponent(id)}`;

  return {
    serverUrl: base,
    login: (username: string, password: string) =>
      request<LoginResponse>('POST', '/api/auth/login', { username, password }),
    mfa: (mfaToken: string, method: MfaMethod, code: string) =>
      request<SessionResponse>('POST', '/api/auth/mfa', { mfaToken, method, code }),
    enroll: (mfaToken: string, code: string) =>
      request<SessionResponse>('POST', '/api/auth/enroll', { mfaToken, code }),
    logout: () => request<void>('POST', '/api/auth/logout'),
    me: () => request<Me>('GET', '/api/me'),
    generateCodes: (password: string) =>
      request<GeneratedCodes>('POST', '/api/me/backup-codes', { password }),
    myEvents: () => request<AuditEvents>('GET', '/api/me/events'),
    /** Every session of the account ends, this one included: the answer holds the new token. */
    changePassword: (currentPassword: string, newPassword: string) =>
      request<ChangedPassword>('POST', '/api/me/password', { currentPassword, newPassword }),
    policy: () => request<Policy>('GET', '/api/admin/policy'),
    savePolicy: (policy: Policy) => request<Policy>('PUT', '/api/admin/policy', policy),
    users: () => request<AdminUsers>('GET', '/api/admin/users'),
    createUser: (user: CreateUserRequest) => request<{ user: User }>('POST', '/api/admin/users', user),
    updateUser: (id: string, change: UpdateUserRequest) =>
      request<UpdatedUser>('PATCH', userPath(id), change),
    deleteUser: (id: string) => request<void>('DELETE', userPath(id)),
    revokeCodes: (id: string) => request<void>('DELETE', `${userPath(id)}/backup-codes`),
    /** Without `password` the server generates a temporary one and returns it, once. */
    resetPassword: (id: string, password?: string) =>
      request<ResetPassword>('POST', `${userPath(id)}/password`, password === undefined ? {} : { password }),
    applications: () => request<Applications>('GET', '/api/admin/applications'),
    createApplication: (application: CreateApplicationRequest) =>
      request<CreatedApplication>('POST', '/api/admin/applications', application),
    updateApplication: (id: string, change: UpdateApplicationRequest) =>
      request<UpdatedApplication>('PATCH', applicationPath(id), change),
    deleteApplication: (id: string) => request<void>('DELETE', applicationPath(id)),
    rotateApplicationSecret: (id: string) => request<RotatedSecret>('POST', `${applicationPath(id)}/secret`),
    unlockUser: (id: string) => request<UnlockedUser>('POST', `${userPath(id)}/unlock`),
    audit: (filter: { limit: number; userId?: string; type?: AuditEventType }) => {
      const query = new URLSearchParams({ limit: String(filter.limit) });
      if (filter.userId) query.set('userId', filter.userId);
      if (filter.type) query.set('type', filter.type);
      return request<AuditEvents>('GET', `/api/admin/audit?${query}`);
    },
    /** The events with from <= at < to (ISO times), as a file to save. */
    exportAudit: async (range: { from: string; to: string; format: AuditExportFormat }) => {
      const query = new URLSearchParams(range);
      const res = await send('GET', `/api/admin/audit/export?${query}`, undefined, '*/*');
      return res.blob();
    },
  };
}
