import type { ComponentChildren } from 'preact';
import { describeError } from '../errors';

/** An error read out by screen readers as soon as it appears. */
export function ErrorAlert({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="alert alert-error" role="alert">
      {describeError(error)}
    </p>
  );
}

export function Notice({
  children,
  tone = 'info',
}: {
  children: ComponentChildren;
  tone?: 'info' | 'success' | 'warning';
}) {
  return (
    <p class={`alert alert-${tone}`} role="status">
      {children}
    </p>
  );
}
