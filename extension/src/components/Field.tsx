import type { ComponentChildren, JSX } from 'preact';
import { useId } from 'preact/hooks';

type InputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'onInput'>;
type TextAreaProps = Omit<JSX.TextareaHTMLAttributes<HTMLTextAreaElement>, 'id' | 'value' | 'onInput'>;

interface Labelled {
  label: string;
  value: string;
  onValue: (value: string) => void;
  hint?: string | null;
  error?: string | null;
}

/**
 * The label, hint and error around one control, tied to it by id and aria-describedby, so assistive
 * technology reads them together.
 */
function Labelled({
  label,
  hint,
  error,
  control,
}: Omit<Labelled, 'value' | 'onValue'> & {
  control: (aria: { id: string; 'aria-invalid'?: true; 'aria-describedby'?: string }) => ComponentChildren;
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {control({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {hint && (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

/** A labelled input whose hint and error are tied to it. */
export function Field({ label, value, onValue, hint, error, ...input }: Labelled & InputProps) {
  return (
    <Labelled
      label={label}
      hint={hint}
      error={error}
      control={(aria) => (
        <input {...input} {...aria} value={value} onInput={(event) => onValue(event.currentTarget.value)} />
      )}
    />
  );
}

/** The same for several lines of text. */
export function TextAreaField({ label, value, onValue, hint, error, ...area }: Labelled & TextAreaProps) {
  return (
    <Labelled
      label={label}
      hint={hint}
      error={error}
      control={(aria) => (
        <textarea {...area} {...aria} value={value} onInput={(event) => onValue(event.currentTarget.value)} />
      )}
    />
  );
}
