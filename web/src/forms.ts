import type { FormInstance } from 'antd';
import type { Rule } from 'antd/es/form';
import type { TFunction } from 'i18next';
import { useCallback, useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError } from './api';
import { useErrorText } from './errors';

/**
 * Putting the API's refusal next to the field it names. The API names a field by its path in the request body
 * (`pickup.lat`, `categories.1`, `earliest_pickup`); a form names its items its own way (one item for a whole place,
 * a day and two times for a window). A form lists its items and, where they differ, which body path each answers.
 */

export type FieldMap = Record<string, string>;

/** Whether `value` is a whole number from `min` to `max`. */
export function isWholeIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * The rule of a number field that takes whole numbers from `min` to `max`: anything else is refused under the field
 * with `message`, as typed. The field itself is given no min, max or precision: Ant Design's InputNumber would then
 * clamp or round what was typed when it loses focus, and a mistyped 99999999 would be sent as the maximum.
 */
export function wholeNumberRule(min: number, max: number, message: string): Rule {
  return refusedUnless((value) => isWholeIn(value, min, max), message);
}

/** A rule that lets an empty field through (the required rule's to refuse) and refuses with `message` what `takes` does not. */
function refusedUnless(takes: (value: unknown) => boolean, message: string): Rule {
  return {
    validator: (_, value: unknown) =>
      value === null || value === undefined || takes(value) ? Promise.resolve() : Promise.reject(new Error(message)),
  };
}

/** Whether `value` is a number, decimals allowed, from `min` to `max`. */
export function isNumberIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

/**
 * The rule of a number field that takes decimals from `min` to `max` (a latitude): anything else is refused under
 * the field with `message`, as typed, never clamped or rounded (see wholeNumberRule).
 */
export function numberRule(min: number, max: number, message: string): Rule {
  return refusedUnless((value) => isNumberIn(value, min, max), message);
}

/**
 * The rule of a text field of `min` to `max` characters once trimmed (a reason): a text too short or too long is
 * refused with `message`, not with "required" (an empty one is the required rule's to refuse).
 */
export function lengthRule(min: number, max: number, message: string): Rule {
  return {
    validator: (_, value: unknown) => {
      const length = typeof value === 'string' ? value.trim().length : 0;
      return length === 0 || (length >= min && length <= max) ? Promise.resolve() : Promise.reject(new Error(message));
    },
  };
}

/**
 * The form item for the API's `field`: the longest leading part of its path that the form has, itself or through
 * `aliases` (`pickup.lat` -> `pickup`); null when the form has no item for it (the refusal is shown above the form).
 */
export function formItemFor(field: string | null | undefined, items: readonly string[], aliases: FieldMap = {}): string | null {
  if (!field) return null;
  const parts = field.split('.');
  for (let length = parts.length; length > 0; length -= 1) {
    const path = parts.slice(0, length).join('.');
    const name = aliases[path] ?? path;
    if (items.includes(name)) return name;
  }
  return null;
}

/**
 * The sentence to show beside a field: the API's detail without its leading "field 'x':" (the field is where it is
 * shown), in English or Chinese wording.
 */
export function fieldMessage(detail: string): string {
  const stripped = detail.replace(/^\s*(?:field|字段)\s*['"‘“「]?[^'"’”」:：]*['"’”」]?\s*[:：]\s*/i, '');
  return stripped === '' ? detail : stripped;
}

/** The words of an error a form shows under a field, made again in the language shown now. */
export type Saying = (words: { describe: (error: unknown) => string; t: TFunction }) => string;

export interface FieldErrors {
  /**
   * Shows `error` next to its form item when it is the API's and names one of `items`; answers whether it did (when
   * not, the caller shows it elsewhere).
   */
  showRefusal: (error: unknown, items: readonly string[], aliases?: FieldMap) => boolean;
  /** Shows the console's own sentence under the item `name` (a wrong current password, say). */
  show: (name: string, saying: Saying) => void;
}

/**
 * The errors a form shows under its fields, following the language switch. An antd form keeps an error as the text
 * it was shown in: a rule's error is validated again once the language changed (the rules then have the new words),
 * and an error the form was given (the server's refusal, or the console's own sentence for it) is worded again, as
 * long as it is still the one shown (the user may have changed the field since). None is cleared: the user may not
 * have read it yet. `connected`: whether the form is drawn now (a dialog's form is not while the dialog is closed).
 */
export function useFieldErrors(form: FormInstance, connected = true): FieldErrors {
  const describe = useErrorText();
  const { t, i18n } = useTranslation();
  const given = useRef(new Map<string, { saying: Saying; text: string }>());
  const language = useRef(i18n.language);

  useEffect(() => {
    // A form not drawn now (its dialog closed) has no errors to word again; antd warns of one asked then.
    if (!connected) {
      given.current.clear();
      language.current = i18n.language;
      return;
    }
    for (const [item, entry] of given.current) {
      const name = item.split('.');
      const shown = form.getFieldError(name);
      if (shown.length !== 1 || shown[0] !== entry.text) {
        given.current.delete(item); // replaced since (typed over, validated again): no longer ours to word
        continue;
      }
      const text = entry.saying({ describe, t });
      if (text !== entry.text) {
        form.setFields([{ name, errors: [text] }]);
        entry.text = text;
      }
    }
    if (language.current === i18n.language) return;
    language.current = i18n.language;
    const stale = form
      .getFieldsError()
      .filter((field) => field.errors.length > 0 && !given.current.has(field.name.join('.')))
      .map((field) => field.name);
    // A rejected validation is the errors shown again, now in the new words: nothing to handle.
    if (stale.length > 0) form.validateFields(stale).catch(() => undefined);
  }, [describe, t, i18n.language, form, connected]);

  const show = useCallback(
    (name: string, saying: Saying) => {
      const text = saying({ describe, t });
      form.setFields([{ name: name.split('.'), errors: [text] }]);
      given.current.set(name, { saying, text });
    },
    [describe, t, form],
  );

  const showRefusal = useCallback(
    (error: unknown, items: readonly string[], aliases: FieldMap = {}) => {
      if (!(error instanceof ApiError)) return false;
      const item = formItemFor(error.field, items, aliases);
      if (item === null) return false;
      show(item, (words) => fieldMessage(words.describe(error)));
      return true;
    },
    [show],
  );

  return { showRefusal, show };
}
