/**
 * The HTTP API contract: one zod schema per body, used by the server both to validate
 * requests and to write the OpenAPI document (/api/openapi.json). The extension imports
 * only the inferred types (`import type`), so zod never ships in its bundle.
 */
import { z } from '@hono/zod-openapi';
import { CODE_LENGTH } from './codes';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_credentials' }),
      message: z.string().openapi({ example: 'Invalid username or password.' }),
      field: z
        .string()
        .optional()
        .openapi({ description: 'The request field the error is about (dotted path), when there is one.' }),
    }),
  })
  .openapi('Error');
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Role = z.enum(['user', 'admin']);
export type Role = z.infer<typeof Role>;

export const MfaUsage = z.enum(['required', 'optional_per_user', 'skipped']).openapi({
  description:
    'required: everyone passes MFA; optional_per_user: only users an admin configured; skipped: no MFA step.',
});
export type MfaUsage = z.infer<typeof MfaUsage>;

export const Username = z
  .string()
  .min(3, 'Username must be at least 3 characters.')
  .max(64, 'Username must be at most 64 characters.')
  .regex(/^[A-Za-z0-9._@-]+$/, 'Username may contain letters, digits and . _ @ - only.');

/**
 * A password being chosen. Its rule (length, not a common password; docs/SECURITY.md) is checked by the
 * server's one password-rules module, whose sentence comes back as `400 weak_password` naming the field;
 * the schema only bounds the body.
 */
export const NewPassword = z
  .string()
  .min(1, 'Password is required.')
  .max(1024, 'Password must be at most 256 characters.')
  .openapi({
    description:
      'At least 8 characters, at most 256, any characters; not a commonly used password (checked case-insensitively) nor the username.',
  });

/** What a client may send as a password when proving one: any policy would leak through errors. */
const GivenPassword = z.string().min(1, 'Password is required.').max(1024);
const GivenCode = z.string().min(1, 'Code is required.').max(64);
const Token = z.string().min(1).max(128);

export const User = z.object({ id: z.string(), username: z.string(), role: Role }).openapi('User');
export type User = z.infer<typeof User>;

export const LoginRequest = z
  .strictObject({ username: z.string().min(1, 'Username is required.').max(64), password: GivenPassword })
  .openapi('LoginRequest');
export type LoginRequest = z.infer<typeof LoginRequest>;

export const MfaMethod = z.enum(['totp', 'backup_code']);
export type MfaMethod = z.infer<typeof MfaMethod>;

export const LoginResponse = z
  .discriminatedUnion('status', [
    z.object({ status: z.literal('ok'), token: z.string(), user: User }),
    z.object({ status: z.literal('mfa_required'), mfaToken: z.string(), methods: z.array(MfaMethod) }),
    z.object({
      status: z.literal('mfa_enroll'),
      mfaToken: z.string(),
      secret: z.string().openapi({ description: 'RFC 4648 base32, upper case, no padding.' }),
      otpauthUri: z.string(),
    }),
  ])
  .openapi('LoginResponse');
export type LoginResponse = z.infer<typeof LoginResponse>;

export const MfaRequest = z
  .strictObject({ mfaToken: Token, method: MfaMethod, code: GivenCode })
  .openapi('MfaRequest');
export type MfaRequest = z.infer<typeof MfaRequest>;

export const SessionResponse = z
  .object({
    token: z.string(),
    user: User,
    backupCodes: z.object({ remaining: z.number().int() }).optional(),
  })
  .openapi('SessionResponse');
export type SessionResponse = z.infer<typeof SessionResponse>;

export const EnrollRequest = z.strictObject({ mfaToken: Token, code: GivenCode }).openapi('EnrollRequest');
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const Reason = z.object({ code: z.string(), message: z.string() });
export type Reason = z.infer<typeof Reason>;

export const BackupCodeStatus = z.object({
  allowed: z.boolean(),
  reason: Reason.nullable(),
  total: z.number().int().openapi({ description: 'Codes in the current set; 0 when there is none.' }),
  remaining: z.number().int(),
  used: z.array(z.number().int()).openapi({ description: 'Numbers (1-based) of the spent codes.' }),
  generatedAt: z.string().nullable(),
  warn: z.boolean().openapi({ description: 'True when remaining is at or under the policy threshold.' }),
});
export type BackupCodeStatus = z.infer<typeof BackupCodeStatus>;

export const MfaType = z.enum(['none', 'totp']);
export type MfaType = z.infer<typeof MfaType>;

export const Me = z
  .object({
    user: User,
    mustChangePassword: z.boolean().openapi({
      description:
        'True after an admin reset or for the generated first admin: until the password is changed, this session may only read /api/me, change the password and sign out.',
    }),
    mfa: z.object({ enabled: z.boolean(), enrolled: z.boolean(), type: MfaType }),
    backupCodes: BackupCodeStatus,
  })
  .openapi('Me');
export type Me = z.infer<typeof Me>;

export const GenerateCodesRequest = z
  .strictObject({ password: GivenPassword })
  .openapi('GenerateCodesRequest');
export type GenerateCodesRequest = z.infer<typeof GenerateCodesRequest>;

export const ChangePasswordRequest = z
  .strictObject({ currentPassword: GivenPassword, newPassword: NewPassword })
  .openapi('ChangePasswordRequest');
export type ChangePasswordRequest = z.infer<typeof ChangePasswordRequest>;

export const ChangedPassword = z
  .object({
    token: z.string().openapi({
      description:
        'A new session token: every session of the account ended with the change, this one included.',
    }),
  })
  .openapi('ChangedPassword');
export type ChangedPassword = z.infer<typeof ChangedPassword>;

export const GeneratedCodes = z
  .object({
    codes: z.array(
      z.object({
        number: z.number().int(),
        code: z
          .string()
          .length(CODE_LENGTH + 1)
          .openapi({ example: '7K3QX-M2D9P' }),
      }),
    ),
    generatedAt: z.string(),
  })
  .openapi('GeneratedCodes');
export type GeneratedCodes = z.infer<typeof GeneratedCodes>;

export const AuditEventType = z.enum([
  'login_succeeded',
  'login_failed',
  'mfa_succeeded',
  'mfa_failed',
  'mfa_locked',
  'password_locked',
  'user_unlocked',
  'mfa_enrolled',
  'backup_code_used',
  'backup_code_failed',
  'backup_codes_generated',
  'backup_codes_revoked',
  'logout',
  'policy_changed',
  'user_created',
  'user_updated',
  'user_deleted',
  'mfa_configured',
  'mfa_reset',
  'password_changed',
  'password_reset',
  'application_created',
  'application_updated',
  'application_secret_rotated',
  'application_deleted',
  'application_sign_in',
]);
export type AuditEventType = z.infer<typeof AuditEventType>;

const UserRef = z.object({ id: z.string(), username: z.string() }).nullable();

export const AuditEvent = z
  .object({
    id: z.string(),
    at: z.string(),
    type: AuditEventType,
    actor: UserRef,
    subject: UserRef,
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  })
  .openapi('AuditEvent');
export type AuditEvent = z.infer<typeof AuditEvent>;

export const AuditEvents = z
  .object({
    events: z.array(AuditEvent),
    nextCursor: z.string().nullable().optional().openapi({
      description:
        'Pass as `cursor` for older events; null at the oldest kept. A page may hold fewer than `limit` events while older ones exist.',
    }),
  })
  .openapi('AuditEvents');
export type AuditEvents = z.infer<typeof AuditEvents>;

export const AuditExportFormat = z.enum(['jsonl', 'csv']);
export type AuditExportFormat = z.infer<typeof AuditExportFormat>;

export const Policy = z
  .strictObject({
    mfaUsage: MfaUsage,
    backupCodes: z.strictObject({
      enabled: z.boolean(),
      count: z
        .number()
        .int('Number of backup codes must be a whole number.')
        .min(1, 'Number of backup codes must be between 1 and 20.')
        .max(20, 'Number of backup codes must be between 1 and 20.'),
      warnWhenRemaining: z
        .number()
        .int('Warning threshold must be a whole number.')
        .min(0, 'Warning threshold must be between 0 and 20.')
        .max(20, 'Warning threshold must be between 0 and 20.'),
    }),
    adminsMustUseMfa: z.boolean().default(false).openapi({
      description:
        'Administrators pass MFA at every sign-in, whatever mfaUsage says for other users; one without an authenticator enrols at the next sign-in. Off by default so existing installs keep working.',
    }),
  })
  .openapi('Policy');
/** The input shape: a policy written before `adminsMustUseMfa` existed (or a client that omits it) means false. */
export type Policy = z.input<typeof Policy>;
/** A policy as saved and answered: every field present. */
export type SavedPolicy = z.output<typeof Policy>;

export const DEFAULT_POLICY: SavedPolicy = {
  mfaUsage: 'optional_per_user',
  backupCodes: { enabled: false, count: 10, warnWhenRemaining: 3 },
  adminsMustUseMfa: false,
};

export const AdminUser = z
  .object({
    id: z.string(),
    username: z.string(),
    role: Role,
    createdAt: z.string(),
    mustChangePassword: z.boolean(),
    mfa: z.object({ type: MfaType, enrolled: z.boolean(), configureLater: z.boolean() }),
    backupCodes: z.object({
      total: z.number().int(),
      remaining: z.number().int(),
      generatedAt: z.string().nullable(),
      lastUsedAt: z.string().nullable(),
    }),
    lockout: z
      .object({
        lockedUntil: z.string().nullable(),
        needsAdminUnlock: z.boolean(),
        consecutiveFailures: z.number().int(),
      })
      .openapi({
        description:
          'Password and MFA lockouts together: the later end of a running lock, whether only an admin unlock ' +
          '(POST /api/admin/users/{id}/unlock) opens the account, and the longer run of failures since a success.',
      }),
  })
  .openapi('AdminUser');
export type AdminUser = z.infer<typeof AdminUser>;

export const DamagedAccount = z
  .object({
    id: z.string(),
    username: z.string(),
    role: Role,
    reason: z.string().openapi({ example: 'checksum mismatch' }),
  })
  .openapi('DamagedAccount', {
    description:
      'An account whose stored record cannot be read: it can be deleted or restored from a backup.',
  });
export type DamagedAccount = z.infer<typeof DamagedAccount>;

export const AdminUsers = z
  .object({ users: z.array(AdminUser), damaged: z.array(DamagedAccount) })
  .openapi('AdminUsers');

export const UnlockedUser = z.object({ user: AdminUser }).openapi('UnlockedUser');
export type UnlockedUser = z.infer<typeof UnlockedUser>;
export type AdminUsers = z.infer<typeof AdminUsers>;

export const CreateUserRequest = z
  .strictObject({
    username: Username,
    password: NewPassword,
    role: Role.default('user'),
    temporary: z.boolean().default(false).openapi({
      description:
        'The admin chose this password for the user: they must change it at their first sign-in (`mustChangePassword`), as after an admin reset. The options page sends true unless its box is cleared.',
    }),
  })
  .openapi('CreateUserRequest');
export type CreateUserRequest = z.input<typeof CreateUserRequest>;

export const CreatedUser = z.object({ user: User }).openapi('CreatedUser');

export const UpdateUserRequest = z
  .strictObject({
    role: Role.optional(),
    mfa: z
      .strictObject({
        type: MfaType,
        configureLater: z.boolean().optional(),
      })
      .optional(),
  })
  .openapi('UpdateUserRequest');
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

export const UpdatedUser = z
  .object({
    user: AdminUser,
    totp: z
      .object({ secret: z.string(), otpauthUri: z.string() })
      .optional()
      .openapi({ description: 'Only when the admin configured an authenticator now: shown once.' }),
  })
  .openapi('UpdatedUser');
export type UpdatedUser = z.infer<typeof UpdatedUser>;

export const ResetPasswordRequest = z
  .strictObject({
    password: NewPassword.optional().openapi({
      description: 'The temporary password to set; omitted, the server generates one and returns it once.',
    }),
  })
  .openapi('ResetPasswordRequest');
export type ResetPasswordRequest = z.infer<typeof ResetPasswordRequest>;

export const ResetPassword = z
  .object({
    user: AdminUser,
    password: z.string().optional().openapi({
      description: 'The generated temporary password, only when none was given: shown this once.',
    }),
  })
  .openapi('ResetPassword');
export type ResetPassword = z.infer<typeof ResetPassword>;
// ---- Applications: the OpenID Connect clients admins register (docs/OIDC.md) ----

export const ApplicationType = z.enum(['confidential', 'public']).openapi({
  description:
    'confidential: a server-side app with a client secret (PKCE allowed); public: a browser or native app, PKCE (S256) required, no secret.',
});
export type ApplicationType = z.infer<typeof ApplicationType>;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A redirect target as OAuth 2.0 Security BCP wants it: absolute, compared exactly, no fragment
 * (RFC 6749 §3.1.2), no credentials, and https unless it stays on this machine (RFC 8252 §7.3).
 */
export const RedirectUri = z
  .string()
  .max(2000, 'A redirect URI must be at most 2000 characters.')
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `Not an absolute URL: ${value.slice(0, 100)}` });
      return;
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
      ctx.addIssue({
        code: 'custom',
        message: 'A redirect URI must use https (http only for localhost, 127.0.0.1 or [::1]).',
      });
    } else if (value.includes('#')) {
      ctx.addIssue({ code: 'custom', message: 'A redirect URI must not contain a fragment (#).' });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: 'A redirect URI must not contain a user name or password.' });
    }
  });

const uriList = (what: string, min: number) =>
  z
    .array(RedirectUri)
    .min(min, `Give at least ${min} ${what}.`)
    .max(20, `At most 20 ${what}.`)
    .refine(
      (uris) => new Set(uris).size === uris.length,
      `The same ${what.replace(/s$/, '')} is listed twice.`,
    );

const ApplicationName = z
  .string()
  .trim()
  .min(1, 'Name is required.')
  .max(100, 'Name must be at most 100 characters.');

export const Application = z
  .object({
    id: z.string(),
    clientId: z.string(),
    name: z.string(),
    type: ApplicationType,
    redirectUris: z.array(z.string()),
    postLogoutRedirectUris: z.array(z.string()),
    createdAt: z.string(),
  })
  .openapi('Application');
export type Application = z.infer<typeof Application>;

export const Applications = z.object({ applications: z.array(Application) }).openapi('Applications');
export type Applications = z.infer<typeof Applications>;

export const CreateApplicationRequest = z
  .strictObject({
    name: ApplicationName,
    type: ApplicationType,
    redirectUris: uriList('redirect URIs', 1),
    postLogoutRedirectUris: uriList('post-logout redirect URIs', 0).default([]),
  })
  .openapi('CreateApplicationRequest');
export type CreateApplicationRequest = z.input<typeof CreateApplicationRequest>;

export const ClientSecret = z.string().openapi({
  description:
    'Shown once: SpareKey keeps only its SHA-256. Send it with client_secret_basic or client_secret_post.',
});

export const CreatedApplication = z
  .object({ application: Application, clientSecret: ClientSecret.optional() })
  .openapi('CreatedApplication');
export type CreatedApplication = z.infer<typeof CreatedApplication>;

export const UpdateApplicationRequest = z
  .strictObject({
    name: ApplicationName.optional(),
    redirectUris: uriList('redirect URIs', 1).optional(),
    postLogoutRedirectUris: uriList('post-logout redirect URIs', 0).optional(),
  })
  .openapi('UpdateApplicationRequest');
export type UpdateApplicationRequest = z.infer<typeof UpdateApplicationRequest>;

export const UpdatedApplication = z.object({ application: Application }).openapi('UpdatedApplication');
export type UpdatedApplication = z.infer<typeof UpdatedApplication>;

export const RotatedSecret = z.object({ clientSecret: ClientSecret }).openapi('RotatedSecret');
export type RotatedSecret = z.infer<typeof RotatedSecret>;
