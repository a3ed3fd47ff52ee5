import { SessionGate } from '../components/SessionGate';
import { t } from '../i18n';
import { AccountView } from './AccountView';
import { KeptCodesSignedOut } from './KeptCodes';

export function Popup() {
  return (
    <main class="popup">
      <h1 class="brand">{t('extName')}</h1>
      <SessionGate signedOut={(serverUrl) => <KeptCodesSignedOut serverUrl={serverUrl} />}>
        {(session) => <AccountView session={session} />}
      </SessionGate>
    </main>
  );
}
