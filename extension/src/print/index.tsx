import { mountPage } from '../components/page';
import { t } from '../i18n';
import { PrintSheet } from './PrintSheet';

mountPage(<PrintSheet />, t('printTitle'));
