/**
 * The web sign-in screen: server-rendered forms that work without JavaScript. Password, then the
 * MFA step (authenticator code, backup code, or enrolment), then /account. The sign-in logic is the
 * JSON API's (services/auth); this file only maps it onto pages, cookies and redirects.
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { MfaMethod } from '../../shared/api';
import { otpauthUri } from '../crypto/totp';
import type { Deps } from '../deps';
import type { AppEnv } from '../http/context';
import { ApiError, accountDamaged } from '../http/errors';
import { forSignIn } from '../http/overload';
import { afterWebSignIn, pendingApplicationSignIn } from '../oidc/routes';
import { carryWebSignIn, type SignInMethod } from '../oidc/sign-ins';
import { limitedChange } from '../services/account-limits';
import { enroll, login, signOut, verifyMfa } from '../services/auth';
import { backupCodeStatus, backupCodeUsable } from '../services/mfa-policy';
import { changePassword } from '../services/passwords';
import { endSession, readChallenge, resolveSession } from '../services/sessions';
import { lockRefusal, lockState } from '../services/throttle';
import { DamagedAccountError } from '../store/types';
import { CHALLENGE_COOKIE, clearCookie, readCookie, SESSION_COOKIE, writeCookie } from '../web/cookies';
import { CSRF_FIELD, formToken, formTokenValid, originCheck } from '../web/csrf';
import {
  BACKUP_CODE,
  CONFIRM_PASSWORD,
  CURRENT_PASSWORD,
  checkField,
  NEW_PASSWORD,
  PASSWORD,
  readForm,
  TOTP_CODE,
  USERNAME,
} from '../web/form';
import { qrSvg } from '../web/qr';
import { STYLESHEET_PATH, stylesheet } from '../web/static';
import { accountPage } from '../web/views/account';
import { enrollPage } from '../web/views/enroll';
import { loginPage } from '../web/views/login';
import { messagePage } from '../web/views/message';
import { mfaPage } from '../web/views/mfa';
import { type PasswordView, passwordPage } from '../web/views/password';

type WebEnv = { Variables: AppEnv['Variables'] & { form: URLSearchParams } };
type WebContext = Context<WebEnv>;

/** Messages /login may show, chosen by a fixed key: nothing from the URL is ever echoed. */
const NOTICES: Record<string, string> = {
  expired: 'Your sign-in expired or was already completed. Sign in again.',
  signed_out: 'You have signed out.',
  mfa_required: 'Multifactor authentication is now required for your account. Sign in again to complete it.',
  sign_in_again: 'The application asks you to sign in again.',
};

/** The same for /account. */
const ACCOUNT_NOTICES: Record<string, string> = {
  password_changed: 'Your password is changed. Your other sessions have been signed out.',
};

function noticeFrom(notices: Record<string, string>, key: string | undefined): string | null {
  return key && Object.hasOwn(notices, key) ? (notices[key] ?? null) : null;
}

const csrfRefused = () =>
  new ApiError(
    403,
    'csrf_refused',
    'This form has expired or was not sent from this site. Go back to sign-in and try again.',
  );

export function webRoutes(deps: Deps) {
  const app = new Hono<WebEnv>();

  /** The double-submit check; it also parses the form once for the handler. */
  const formCheck: MiddlewareHandler<WebEnv> = async (c, next) => {
    const form = await readForm(c);
    if (!form || !formTokenValid(c, deps, form.get(CSRF_FIELD))) throw csrfRefused();
    c.set('form', form);
    await next();
  };
  const guarded = [originCheck(deps), formCheck] as const;

  /** The session's user; 'mfa_step_required' when the policy now asks for an MFA step it never passed. */
  async function signedInUser(c: WebContext) {
    const token = readCookie(c, deps, SESSION_COOKIE);
    try {
      return token ? await resolveSession(deps, token) : null;
    } catch (error) {
      if (error instanceof ApiError && error.code === 'mfa_step_required') return 'mfa_step_required';
      throw error;
    }
  }

  /** The challenge in this browser's cookie, its user, and whether a backup code may be offered. */
  async function pendingChallenge(c: WebContext) {
    const token = readCookie(c, deps, CHALLENGE_COOKIE);
    const challenge = token ? await readChallenge(deps, token) : null;
    const user = challenge ? await deps.store.getUser(challenge.userId) : null;
    if (!token || !challenge || !user) return null;
    const backupAllowed = backupCodeUsable(await deps.store.getPolicy(), user);
    return { token, challenge, user, backupAllowed };
  }

  function expired(c: WebContext) {
    clearCookie(c, deps, CHALLENGE_COOKIE);
    return c.redirect('/login?notice=expired', 303);
  }

  async function signedIn(c: WebContext, sessionToken: string, method: SignInMethod) {
    // A sign-in replaces whatever session this browser had, so the old token cannot linger.
    const previous = readCookie(c, deps, SESSION_COOKIE);
    if (previous) await endSession(deps, previous);
    clearCookie(c, deps, CHALLENGE_COOKIE);
    writeCookie(c, deps, SESSION_COOKIE, sessionToken);
    // A sign-in for an application (OpenID Connect) goes back to it.
    return c.redirect((await afterWebSignIn(c, deps, sessionToken, method)) ?? '/account', 303);
  }

  /** A service refusal the page shows at its form; anything else is a real fault for the app's handler. */
  function refusal(c: WebContext, caught: unknown): ApiError {
    const error = caught instanceof DamagedAccountError ? accountDamaged() : caught;
    if (!(error instanceof ApiError)) throw error;
    if (error.extras.retryAfter) c.header('Retry-After', String(error.extras.retryAfter));
    return error;
  }

  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status === 403) {
      // hono's csrf(): the Origin or Sec-Fetch-Site named another site.
      const refused = csrfRefused();
      return c.html(messagePage('Request refused', refused.message), 403);
    }
    if (error instanceof ApiError) {
      if (error.extras.retryAfter) c.header('Retry-After', String(error.extras.retryAfter));
      return c.html(messagePage('Something is wrong', error.message), error.status);
    }
    // Unexpected faults go to the app's handler, which logs them.
    throw error;
  });

  app.get(STYLESHEET_PATH, (c) => c.body(stylesheet, 200, { 'Content-Type': 'text/css; charset=utf-8' }));

  app.get('/', async (c) => {
    const user = await signedInUser(c);
    return c.redirect(user && user !== 'mfa_step_required' ? '/account' : '/login', 303);
  });

  app.get('/login', async (c) => {
    const user = await signedInUser(c);
    // A signed-in browser is shown the form only when an application asked for a fresh sign-in.
    const signedInAlready = user && user !== 'mfa_step_required';
    if (signedInAlready && !pendingApplicationSignIn(c, deps)) return c.redirect('/account', 303);
    return c.html(
      loginPage({ csrf: formToken(c, deps), notice: noticeFrom(NOTICES, c.req.query('notice')) }),
    );
  });

  app.post('/login', ...guarded, async (c) => {
    const form = c.get('form');
    const username = checkField(form, USERNAME);
    const password = checkField(form, PASSWORD);
    const csrf = formToken(c, deps);
    if (username.error || password.error) {
      const fieldErrors = { username: username.error, password: password.error };
      return c.html(loginPage({ csrf, username: username.value, fieldErrors }), 400);
    }
    let result: Awaited<ReturnType<typeof login>>;
    try {
      result = await login(forSignIn(deps), c.get('meta'), {
        username: username.value,
        password: password.value,
      });
    } catch (error) {
      const refused = refusal(c, error);
      return c.html(loginPage({ csrf, username: username.value, error: refused.message }), refused.status);
    }
    switch (result.status) {
      case 'ok':
        return signedIn(c, result.token, 'password');
      case 'mfa_required':
        writeCookie(c, deps, CHALLENGE_COOKIE, result.mfaToken);
        return c.redirect('/login/mfa', 303);
      case 'mfa_enroll':
        writeCookie(c, deps, CHALLENGE_COOKIE, result.mfaToken);
        return c.redirect('/login/enroll', 303);
    }
  });

  app.get('/login/mfa', async (c) => {
    const pending = await pendingChallenge(c);
    if (!pending) return expired(c);
    if (pending.challenge.pendingSecret) return c.redirect('/login/enroll', 303);
    const method: MfaMethod =
      c.req.query('method') === 'backup_code' && pending.backupAllowed ? 'backup_code' : 'totp';
    const lock = lockState(pending.user.mfaLockout, deps.clock.now());
    const error = lock.kind === 'open' ? null : lockRefusal(lock, 0).message;
    const { username, id: userId } = pending.user;
    return c.html(
      mfaPage({
        csrf: formToken(c, deps),
        method,
        username,
        userId,
        backupAllowed: pending.backupAllowed,
        error,
      }),
    );
  });

  app.post('/login/mfa', ...guarded, async (c) => {
    const form = c.get('form');
    // Which form was sent is told by its field: the two forms post to the same place.
    const method: MfaMethod = form.has('backup_code') ? 'backup_code' : 'totp';
    const pending = await pendingChallenge(c);
    if (!pending) return expired(c);
    if (pending.challenge.pendingSecret) return c.redirect('/login/enroll', 303);
    const code = checkField(form, method === 'backup_code' ? BACKUP_CODE : TOTP_CODE);
    const show = (error: string, status: ApiError['status']) =>
      c.html(
        mfaPage({
          csrf: formToken(c, deps),
          method,
          username: pending.user.username,
          userId: pending.user.id,
          backupAllowed: pending.backupAllowed,
          error,
        }),
        status,
      );
    if (code.error) return show(code.error, 400);
    try {
      const session = await verifyMfa(forSignIn(deps), c.get('meta'), {
        mfaToken: pending.token,
        method,
        code: code.value,
      });
      return signedIn(c, session.token, method);
    } catch (error) {
      const refused = refusal(c, error);
      if (refused.code === 'invalid_mfa_token') return expired(c);
      return show(refused.message, refused.status);
    }
  });

  /** The enrolment page for a pending secret, with the error of a refused first code if there is one. */
  async function showEnroll(
    c: WebContext,
    username: string,
    secret: string,
    error: string | null = null,
    status: ApiError['status'] = 200,
  ) {
    const qr = await qrSvg(otpauthUri(secret, username));
    return c.html(enrollPage({ csrf: formToken(c, deps), username, secret, qrSvg: qr, error }), status);
  }

  app.get('/login/enroll', async (c) => {
    const pending = await pendingChallenge(c);
    if (!pending) return expired(c);
    const secret = pending.challenge.pendingSecret;
    if (!secret) return c.redirect('/login/mfa', 303);
    return showEnroll(c, pending.user.username, secret);
  });

  app.post('/login/enroll', ...guarded, async (c) => {
    const pending = await pendingChallenge(c);
    if (!pending) return expired(c);
    const secret = pending.challenge.pendingSecret;
    if (!secret) return c.redirect('/login/mfa', 303);
    const code = checkField(c.get('form'), TOTP_CODE);
    const show = (error: string, status: ApiError['status']) =>
      showEnroll(c, pending.user.username, secret, error, status);
    if (code.error) return show(code.error, 400);
    try {
      const session = await enroll(forSignIn(deps), c.get('meta'), {
        mfaToken: pending.token,
        code: code.value,
      });
      return signedIn(c, session.token, 'enrolment');
    } catch (error) {
      const refused = refusal(c, error);
      if (refused.code === 'invalid_mfa_token') return expired(c);
      return show(refused.message, refused.status);
    }
  });

  /** The signed-in user of a page under /account, or the redirect that page answers with instead. */
  async function accountUser(c: WebContext) {
    const user = await signedInUser(c);
    if (!user || user === 'mfa_step_required') {
      if (readCookie(c, deps, SESSION_COOKIE)) clearCookie(c, deps, SESSION_COOKIE);
      // Sign-in again leads through the MFA step or the enrolment the policy now asks for.
      return { redirect: c.redirect(user ? '/login?notice=mfa_required' : '/login', 303) } as const;
    }
    return { user } as const;
  }

  app.get('/account', async (c) => {
    const found = await accountUser(c);
    if (!found.user) return found.redirect;
    const { user } = found;
    // A reset or generated password opens nothing until it is replaced.
    if (user.mustChangePassword) return c.redirect('/account/password', 303);
    const backupCodes = backupCodeStatus(await deps.store.getPolicy(), user);
    const notice = noticeFrom(ACCOUNT_NOTICES, c.req.query('notice'));
    return c.html(accountPage({ csrf: formToken(c, deps), username: user.username, backupCodes, notice }));
  });

  app.get('/account/password', async (c) => {
    const found = await accountUser(c);
    if (!found.user) return found.redirect;
    const { user } = found;
    return c.html(
      passwordPage({
        csrf: formToken(c, deps),
        username: user.username,
        forced: Boolean(user.mustChangePassword),
      }),
    );
  });

  app.post('/account/password', ...guarded, async (c) => {
    const found = await accountUser(c);
    if (!found.user) return found.redirect;
    const { user } = found;
    const form = c.get('form');
    const current = checkField(form, CURRENT_PASSWORD);
    const next = checkField(form, NEW_PASSWORD);
    const confirm = checkField(form, CONFIRM_PASSWORD);
    const show = (status: ApiError['status'], fieldErrors: PasswordView['fieldErrors'], error?: string) =>
      c.html(
        passwordPage({
          csrf: formToken(c, deps),
          username: user.username,
          forced: Boolean(user.mustChangePassword),
          fieldErrors,
          error: error ?? null,
        }),
        status,
      );
    const mismatch = !confirm.error && confirm.value !== next.value ? 'The two new passwords differ.' : null;
    if (current.error || next.error || confirm.error || mismatch) {
      return show(400, { current: current.error, next: next.error, confirm: confirm.error ?? mismatch });
    }
    let session: { token: string };
    const previousToken = readCookie(c, deps, SESSION_COOKIE) ?? '';
    try {
      const meta = c.get('meta');
      session = await limitedChange(deps, 'password_change', user, meta, () =>
        changePassword(
          deps,
          meta,
          user,
          { currentPassword: current.value, newPassword: next.value },
          previousToken,
        ),
      );
    } catch (error) {
      const refused = refusal(c, error);
      if (refused.extras.field === 'currentPassword')
        return show(refused.status, { current: refused.message });
      if (refused.extras.field === 'newPassword') return show(refused.status, { next: refused.message });
      return show(refused.status, {}, refused.message);
    }
    // Every session of the account ended with the change; this browser continues on the new one,
    // signed in when and how it was, and on to the application whose sign-in waited for a forced change.
    await carryWebSignIn(deps, previousToken, session.token);
    writeCookie(c, deps, SESSION_COOKIE, session.token);
    const waiting = user.mustChangePassword ? pendingApplicationSignIn(c, deps) : null;
    return c.redirect(waiting ?? '/account?notice=password_changed', 303);
  });

  app.post('/logout', ...guarded, async (c) => {
    const token = readCookie(c, deps, SESSION_COOKIE);
    if (token) await signOut(deps, c.get('meta'), token);
    clearCookie(c, deps, SESSION_COOKIE);
    return c.redirect('/login?notice=signed_out', 303);
  });

  return app;
}
