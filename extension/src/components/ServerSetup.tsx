import { useState } from 'preact/hooks';
import { t } from '../i18n';
import { parseServerUrl, requestHostPermission, saveServerUrl } from '../server-url';
import { Field } from './Field';

interface ServerSetupProps {
  initialUrl: string;
  /** True when IT preset the address through managed storage. */
  managed: boolean;
  onReady: (serverUrl: string) => void;
}

/** First run: which server, then the browser's permission to reach it (and nothing else). */
export function ServerSetup({ initialUrl, managed, onReady }: ServerSetupProps) {
  const [input, setInput] = useState(initialUrl);
  const [problem, setProblem] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    const parsed = parseServerUrl(input);
    if ('problem' in parsed) {
      setProblem(parsed.problem === 'insecure' ? t('serverUrlInsecure') : t('serverUrlInvalid'));
      return;
    }
    // Saved before the prompt: Firefox closes the popup while it asks, and the answer must not be lost.
    const saving = saveServerUrl(parsed.url);
    const granted = await requestHostPermission(parsed.url);
    await saving;
    if (!granted) {
      setProblem(t('permissionDenied'));
      return;
    }
    onReady(parsed.url);
  };

  return (
    <form class="stack" onSubmit={submit} noValidate>
      <h2>{t('setupTitle')}</h2>
      <p>{t('setupIntro')}</p>
      <Field
        label={t('serverUrlLabel')}
        type="url"
        value={input}
        onValue={setInput}
        placeholder="https://sparekey.example.com"
        autocomplete="url"
        required
        hint={managed ? t('serverUrlManaged') : t('serverUrlHint')}
        error={problem}
      />
      <button type="submit" class="primary">
        {t('setupContinue')}
      </button>
    </form>
  );
}
