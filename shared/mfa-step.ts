/**
 * Where the server's backup-code form is, shared by the server (which renders it) and the extension
 * (which fills a kept code there and nowhere else).
 */

/** The MFA step's path under the server's public URL (server/routes/web.ts). */
export const MFA_STEP_PATH = '/login/mfa';

/** The attribute the server's backup-code form carries; a form without it never gets a code. */
export const BACKUP_FORM_ATTRIBUTE = 'data-sparekey-form';
export const BACKUP_FORM_VALUE = 'backup_code';
