/** A page that only explains what went wrong and where to go next. */
import { html } from 'hono/html';
import { type Html, layout } from './layout';

export function messagePage(
  title: string,
  message: string,
  next = { href: '/login', label: 'Go to sign-in' },
): Html {
  return layout(
    title,
    html`<h1>${title}</h1>
<p class="alert" role="alert">${message}</p>
<p class="switch"><a href="${next.href}">${next.label}</a></p>`,
  );
}
