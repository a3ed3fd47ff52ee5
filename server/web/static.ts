/** The pages' one stylesheet, read once at start: the CSP allows styles from ourselves only. */
import { readFileSync } from 'node:fs';

export const STYLESHEET_PATH = '/static/sparekey.css';
export const stylesheet = readFileSync(new URL('./sparekey.css', import.meta.url), 'utf8');
