import { describe, expect, it } from 'vitest';

import po from '../../fleet/locales/zh_CN/LC_MESSAGES/gongche.po?raw';

import catalog from './serverCatalog';
import { parsePo, ServerMessages } from './serverMessages';

const PO = `# Chinese translations for Gongche.
msgid ""
msgstr ""
"Project-Id-Version: Gongche 1\\n"

#: fleet/bookings.py
#, python-brace-format
msgid "trip {trip_id} is {status}; {decision} needs {needed}"
msgstr "行程 {trip_id} 当前为 {status}；仅 {needed}状态的行程可以{decision}"

#: fleet/bookings.py
msgid "approve"
msgstr "批准"

#: fleet/i18n.py
#, python-brace-format
msgid "field '{field}': {reason}"
msgstr "字段“{field}”：{reason}"

#: fleet/i18n.py
msgid ""
"latest "
"pickup"
msgstr "最晚上车时间"

#, fuzzy
msgid "earliest pickup"
msgstr "最早"

#, python-brace-format
msgid "{table} row {row_id} ({entity} {row_id}) is gone"
msgstr "{table} 表第 {row_id} 行（{entity} {row_id}）已不存在"

msgid "say \\"{what}\\" and {{braces}}"
msgstr "说“{what}”与 {{括号}}"

msgid "{reason}"
msgstr "{reason}"

msgid "{weekday} {moment}"
msgstr "{moment}（{weekday}）"

msgid "untranslated"
msgstr ""
`;

describe("the server's message catalog", () => {
  it('reads its messages, joined across lines, less the header, the fuzzy and the untranslated ones', () => {
    const entries = parsePo(PO);
    expect(entries.map((e) => e.en)).toEqual([
      'trip {trip_id} is {status}; {decision} needs {needed}',
      'approve',
      "field '{field}': {reason}",
      'latest pickup',
      '{table} row {row_id} ({entity} {row_id}) is gone',
      'say "{what}" and {{braces}}',
      '{reason}',
      '{weekday} {moment}',
    ]);
    expect(entries[3]?.zh).toBe('最晚上车时间');
  });

  it("puts a Chinese refusal into English, its parameters too, the registry's codes without their labels", () => {
    const messages = new ServerMessages(parsePo(PO));
    expect(
      messages.translate('行程 5 当前为 cancelled（已取消）；仅 requested（已申请）状态的行程可以批准', 'zh-CN', 'en'),
    ).toBe('trip 5 is cancelled; approve needs requested');
    // A parameter the catalog does not render (a purpose, a plate, or here a reason it lacks) stays as it came.
    expect(messages.translate('字段“最晚上车时间”：早于最早上车时间', 'zh-CN', 'en')).toBe("field 'latest pickup': 早于最早上车时间");
    expect(messages.translate('字段“最晚上车时间”：最晚上车时间', 'zh-CN', 'en')).toBe("field 'latest pickup': latest pickup");
  });

  it('puts an English one into Chinese, giving codes the labels it is told', () => {
    const messages = new ServerMessages(parsePo(PO));
    const labels = (code: string) => ({ cancelled: '已取消', requested: '已申请' })[code] ?? null;
    expect(messages.translate('trip 5 is cancelled; approve needs requested', 'en', 'zh-CN', labels)).toBe(
      '行程 5 当前为 cancelled（已取消）；仅 requested（已申请）状态的行程可以批准',
    );
    expect(messages.translate('trip 5 is cancelled; approve needs requested', 'en', 'zh-CN')).toBe(
      '行程 5 当前为 cancelled；仅 requested状态的行程可以批准',
    );
  });

  it('keeps a parameter named twice the same, and braces as braces', () => {
    const messages = new ServerMessages(parsePo(PO));
    expect(messages.translate('trips row 7 (trip 7) is gone', 'en', 'zh-CN')).toBe('trips 表第 7 行（trip 7）已不存在');
    expect(messages.translate('trips row 7 (trip 8) is gone', 'en', 'zh-CN')).toBeNull();
    expect(messages.translate('say "hi" and {braces}', 'en', 'zh-CN')).toBe('说“hi”与 {括号}');
  });

  it('renders nothing it does not know, and a text in its own language as it is', () => {
    const messages = new ServerMessages(parsePo(PO));
    expect(messages.translate('the server failed', 'en', 'zh-CN')).toBeNull();
    // Templates with no words of their own (a bare parameter, two joined by a space) would match any text.
    expect(messages.translate('Bad Gateway', 'en', 'zh-CN')).toBeNull();
    expect(messages.translate('无论什么', 'zh-CN', 'en')).toBeNull();
    expect(messages.translate('approve', 'en', 'en')).toBe('approve');
  });

  it("holds the server's refusals of a booking and of a decision, both ways", () => {
    expect(catalog.translate('字段“最晚上车时间”：早于最早上车时间', 'zh-CN', 'en')).toBe(
      "field 'latest pickup': is before the earliest pickup",
    );
    expect(catalog.translate("field 'latest pickup': is more than 7 days after the earliest pickup", 'en', 'zh-CN')).toBe(
      '字段“最晚上车时间”：晚于最早上车时间超过 7 天',
    );
    expect(
      catalog.translate('行程 5 当前为 cancelled（已取消）；仅 requested（已申请）状态的行程可以批准', 'zh-CN', 'en'),
    ).toBe('trip 5 is cancelled; approve needs requested');
  });
});

describe("every message of the server's catalog", () => {
  // Each parameter filled with a value no template renders (`{trip_id}` -> `Q7v116`), as the server would fill it.
  const filled = (template: string) =>
    template.replace(/\{\{|\}\}|\{(\w+)(?::[^{}]*)?\}/g, (token: string, name: string | undefined) =>
      name === undefined ? (token[0] ?? '') : `Q${name.length}v${name.charCodeAt(0)}`,
    );
  // Those with words of their own: a template of parameters and punctuation alone is left as it is (serverMessages.ts).
  const hasWords = (template: string) => /[\p{L}\p{N}]/u.test(template.replace(/\{\{|\}\}|\{\w+(?::[^{}]*)?\}/g, ''));
  const worded = parsePo(po).filter((e) => hasWords(e.en) && hasWords(e.zh));

  it('is put from English into its Chinese', () => {
    const wrong = worded.filter((e) => catalog.translate(filled(e.en), 'en', 'zh-CN') !== filled(e.zh));
    expect(wrong).toEqual([]);
  });

  it('is put from Chinese into English that says the same (where two English sentences share one Chinese, either)', () => {
    const wrong = worded.filter((e) => {
      const english = catalog.translate(filled(e.zh), 'zh-CN', 'en');
      return english === null || catalog.translate(english, 'en', 'zh-CN') !== filled(e.zh);
    });
    expect(wrong).toEqual([]);
  });
});
