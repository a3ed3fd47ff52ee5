/**
 * The page shell every sign-in screen shares: no script, one stylesheet from ourselves, and an empty
 * icon so browsers do not ask for /favicon.ico.
 */
import { html } from 'hono/html';
import { STYLESHEET_PATH } from '../static';

export type Html = ReturnType<typeof html>;

export function layout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title} · SpareKey</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="icon" href="data:,">
</head>
<body>
<header class="brand"><span class="logo" aria-hidden="true"></span>SpareKey</header>
<main class="card">
${body}
</main>
</body>
</html>
`;
}
