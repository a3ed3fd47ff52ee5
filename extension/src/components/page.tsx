import { type ComponentChild, render } from 'preact';
import browser from 'webextension-polyfill';
import { t } from '../i18n';

/** Mounts a page in the browser's UI language, so screen readers pronounce it right. */
export function mountPage(app: ComponentChild, title = t('extName')): void {
  document.documentElement.lang = browser.i18n.getUILanguage();
  document.title = title;
  const root = document.getElementById('app');
  if (root) render(app, root);
}
