import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { parseServerUrl, requestHostPermission, saveServerUrl, watchManagedServerUrl } from '../server-url';
import { Field } from './Field';

interface ServerSetupProps {
  /** The address saved earlier, if any; else the one IT preset is filled in when it arrives. */
  initialUrl: string;
  onReady: (serverUrl: string) => void;
}

/** First run: which server, then the browser's permission to reach it (and nothing else). */
export function ServerSetup({ initialUrl, onReady }: ServerSetupProps) {
  const [input, setInput] = useState(initialUrl);
  const [problem, setProblem] = useState<string | null>(null);
  /** The address IT preset, while it is what the field holds. */
  const [managed, setManaged] = useState<string | null>(null);
  const typed = useRef(false);

  // Chromium can take seconds to load managed storage after start-up or a force-install: the form
  // shows at once and the preset fills in when it arrives (even while the popup is open), unless the
  // person has typed meanwhile.
  useEffect(() => {
    if (initialUrl) return;
    return watchManagedServerUrl((url) => {
      if (typed.current) return;
      setInput(url);
      setManaged(url);
    });
  }, [initialUrl]);

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
        onValue={(value) => {
          typed.current = true;
          setInput(value);
        }}
        placeholder="https://sparekey.example.com"
        autocomplete="url"
        required
        hint={managed !== null && input === managed ? t('serverUrlManaged') : t('serverUrlHint')}
        error={problem}
      />
      <button type="submit" class="primary">
        {t('setupContinue')}
      </button>
    </form>
  );
}
