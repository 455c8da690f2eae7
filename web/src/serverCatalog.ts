// The server's message catalog, as the server reads it at run time. A chunk of its own: loaded only when a refusal
// must be shown in a language other than the one it came in (errors.ts).
import po from '../../fleet/locales/zh_CN/LC_MESSAGES/gongche.po?raw';

import { parsePo, ServerMessages } from './serverMessages';

const messages = new ServerMessages(parsePo(po));

export default messages;
