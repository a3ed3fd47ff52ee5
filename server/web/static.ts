/** The pages' one stylesheet, read once at start: the CSP allows styles from ourselves only. */
import { readFileSync } from 'node:fs';
import { runtimeFile } from '../runtime-files';

export const STYLESHEET_PATH = '/static/sparekey.css';
export const stylesheet = readFileSync(runtimeFile('web/sparekey.css'), 'utf8');
