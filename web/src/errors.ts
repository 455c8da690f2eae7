import { useCallback, useSyncExternalStore } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError, Unreachable, useVocabulary } from './api';
import { isLanguage, type Language } from './i18n';
import type { CodeLabel, ServerMessages } from './serverMessages';
import type { Vocabularies } from './vocabulary';

/**
 * What the user reads of an error, in the language shown now. An error is kept as it was thrown (not as the sentence
 * it made then) and worded where it is shown, so that a switch of language words it again: a server's refusal came
 * in the language of its request, and is put into the other from the server's catalog (serverMessages.ts); no answer
 * at all is `errors.offline`, never the browser's "Failed to fetch".
 */

/** Whether no answer came (the server or the network is down), as the client says it or as fetch itself does. */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof Unreachable) return true;
  // Chromium's, Firefox's and Safari's words for fetch's own failure (a map's tiles, read outside the client).
  return error instanceof TypeError && /failed to fetch|networkerror|load failed/i.test(error.message);
}

/** `error` as one sentence in `language`; `translate` puts a server's sentence into it, null where it cannot. */
export function errorText(
  error: unknown,
  language: Language,
  offline: string,
  translate: (detail: string, from: Language, to: Language) => string | null,
): string {
  if (isUnreachable(error)) return offline;
  if (error instanceof ApiError) {
    if (error.language === null || error.language === language) return error.detail;
    return translate(error.detail, error.language, language) ?? error.detail;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** An error to keep for showing: anything thrown, as an Error. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

// The catalog, loaded the first time a refusal is to be shown in a language other than its own; components that
// show errors are drawn again when it arrives.
let catalog: ServerMessages | null = null;
let loading = false;
const waiting = new Set<() => void>();

function loadCatalog(): void {
  if (catalog !== null || loading) return;
  loading = true;
  import('./serverCatalog')
    .then((loaded) => {
      catalog = loaded.default;
      for (const changed of waiting) changed();
    })
    .catch(() => {
      // Not loaded (the server is away, say): the sentence stays in the language it came in; asked again next time.
    })
    .finally(() => {
      loading = false;
    });
}

function watchCatalog(changed: () => void): () => void {
  waiting.add(changed);
  return () => waiting.delete(changed);
}

function loadedCatalog(): ServerMessages | null {
  return catalog;
}

/** The label of a registry code in any vocabulary (`cancelled` -> 已取消), as the server writes it beside the code. */
function codeLabel(vocabularies: Vocabularies | undefined): CodeLabel {
  return (code) => {
    for (const terms of Object.values(vocabularies ?? {})) {
      const term = terms.find((t) => t.value === code);
      if (term) return term.zh;
    }
    return null;
  };
}

/**
 * The function that words an error in the console's language now. It changes when the language does (and when the
 * server's catalog arrives), so that what shows an error, or holds it in a form, follows.
 */
export function useErrorText(): (error: unknown) => string {
  const { t, i18n } = useTranslation();
  const language: Language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const messages = useSyncExternalStore(watchCatalog, loadedCatalog);
  const vocabularies = useVocabulary().data;
  return useCallback(
    (error: unknown) =>
      errorText(error, language, t('errors.offline'), (detail, from, to) => {
        if (messages === null) {
          loadCatalog();
          return null;
        }
        return messages.translate(detail, from, to, codeLabel(vocabularies));
      }),
    [language, t, messages, vocabularies],
  );
}
