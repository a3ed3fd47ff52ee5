import { mountPage } from '../components/page';
import { Popup } from './Popup';

mountPage(<Popup />);
