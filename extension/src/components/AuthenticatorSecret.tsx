import { t } from '../i18n';
import { QrCode } from './QrCode';

/** Groups of four read aloud and type by hand far more reliably than 32 characters in a row. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

/** The authenticator secret as a QR code and as text, for apps that cannot scan. */
export function AuthenticatorSecret({ secret, otpauthUri }: { secret: string; otpauthUri: string }) {
  return (
    <div class="secret">
      <QrCode text={otpauthUri} label={t('qrLabel')} />
      <p class="hint">{t('secretManualEntry')}</p>
      <p>
        {t('secretLabel')}: <code class="secret-text">{grouped(secret)}</code>
      </p>
    </div>
  );
}
