import { mountPage } from '../components/page';
import { t } from '../i18n';
import { Options } from './Options';

mountPage(<Options />, t('optionsTitle'));
