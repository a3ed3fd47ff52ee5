import { useState } from 'preact/hooks';

/**
 * A form's submit handler: keeps the page from reloading, marks the form busy while `action` runs,
 * and keeps what went wrong for <ErrorAlert>. `onFailure` runs first on an error (to clear a secret
 * field, expire the session, or show the error at a field) and returns what to show in the alert,
 * or null for nothing.
 */
export function useSubmit(
  action: () => Promise<void>,
  onFailure: (caught: unknown) => unknown = (caught) => caught,
) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(onFailure(caught));
    } finally {
      setBusy(false);
    }
  };
  return { submit, busy, error, setError };
}
