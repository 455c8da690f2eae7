import { describe, expect, it } from 'vitest';

import { ApiError, Unreachable } from './api';
import { asError, errorText, isUnreachable } from './errors';

const OFFLINE = '无法连接服务器，请检查网络后重试';
const translate = (detail: string, from: string, to: string) => `${detail} [${from}->${to}]`;
const untranslatable = () => null;

describe('what the user reads of an error', () => {
  it("is the server's sentence as it came, in the language it came in", () => {
    const refused = new ApiError(409, 'InvalidState', '行程 5 当前为 cancelled', 'status', null, 'zh-CN');
    expect(errorText(refused, 'zh-CN', OFFLINE, translate)).toBe('行程 5 当前为 cancelled');
  });

  it("is the server's sentence put into the language shown now, or as it came where it cannot be", () => {
    const refused = new ApiError(409, 'InvalidState', '行程 5 当前为 cancelled', 'status', null, 'zh-CN');
    expect(errorText(refused, 'en', OFFLINE, translate)).toBe('行程 5 当前为 cancelled [zh-CN->en]');
    expect(errorText(refused, 'en', OFFLINE, untranslatable)).toBe('行程 5 当前为 cancelled');
    // An answer that did not say its language (not the API's: a proxy's status line) is shown as it is.
    expect(errorText(new ApiError(502, 'HttpError', 'Bad Gateway'), 'zh-CN', OFFLINE, translate)).toBe('Bad Gateway');
  });

  it('is the words for no answer at all, never "Failed to fetch"', () => {
    expect(errorText(new Unreachable(new TypeError('Failed to fetch')), 'zh-CN', OFFLINE, translate)).toBe(OFFLINE);
    expect(errorText(new TypeError('Failed to fetch'), 'zh-CN', OFFLINE, translate)).toBe(OFFLINE);
    expect(isUnreachable(new TypeError('NetworkError when attempting to fetch resource.'))).toBe(true);
    expect(isUnreachable(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
  });

  it("is anything else's message", () => {
    expect(errorText(new Error('the form is incomplete'), 'en', OFFLINE, translate)).toBe('the form is incomplete');
    expect(errorText('odd', 'en', OFFLINE, translate)).toBe('odd');
    expect(asError('odd').message).toBe('odd');
  });
});
