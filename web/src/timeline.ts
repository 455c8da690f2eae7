import moment from 'moment';
import 'moment/locale/zh-cn';
import type { TimelineOptions } from 'vis-timeline/peer';

/** China's fixed offset (no daylight saving): every timeline draws its axis in it, whatever the browser's zone. */
const CHINA_OFFSET_MINUTES = 8 * 60;

/**
 * The options every vis-timeline of the console shares: its axis in China time with 24-hour labels, and its few
 * words in both languages (given locales replace vis-timeline's own, which have no Chinese).
 */
export const CHINA_TIMELINE: TimelineOptions = {
  locale: 'zh-cn',
  locales: {
    'zh-cn': { current: '当前', time: '时间', deleteSelected: '删除所选' },
    en: { current: 'current', time: 'time', deleteSelected: 'Delete selected' },
  },
  moment: (date?: moment.MomentInput) => moment(date).utcOffset(CHINA_OFFSET_MINUTES),
  format: {
    minorLabels: { minute: 'HH:mm', hour: 'HH:mm', weekday: 'MM-DD', day: 'MM-DD' },
    majorLabels: { minute: 'YYYY-MM-DD', hour: 'YYYY-MM-DD', weekday: 'YYYY-MM', day: 'YYYY-MM' },
  },
};
