import { LeftOutlined, RightOutlined } from '@ant-design/icons';
import { Button, DatePicker, Space, Tooltip } from 'antd';
import dayjs from 'dayjs';
import { useSearchParams } from 'react-router';

import { isDay, shiftDay, todayInChina } from './board';
import { useText } from './messages';

/** The day a page's address names (`?day=YYYY-MM-DD`), today in China when it names none (or none that exists). */
export function dayOf(search: string): string {
  const asked = new URLSearchParams(search).get('day');
  return isDay(asked) ? asked : todayInChina();
}

/** The day in the address (`?day=YYYY-MM-DD`), today in China when it names none (or none that exists). */
export function useDay(): [string, (day: string) => void] {
  const [params, setParams] = useSearchParams();
  const asked = params.get('day');
  const day = isDay(asked) ? asked : todayInChina();
  const choose = (next: string) => {
    setParams(
      (current) => {
        const updated = new URLSearchParams(current);
        updated.set('day', next);
        return updated;
      },
      { replace: false },
    );
  };
  return [day, choose];
}

/**
 * A China-time day: the picker's value is only a calendar date (its digits, read in whatever zone the browser has,
 * are the day), so the browser's zone never shifts it.
 */
export default function DayPicker({ day, onChange }: { day: string; onChange: (day: string) => void }) {
  const { t } = useText();
  return (
    <Space.Compact>
      <Tooltip title={t('board.previous')}>
        <Button icon={<LeftOutlined />} onClick={() => onChange(shiftDay(day, -1))} aria-label={t('board.previous')} />
      </Tooltip>
      <DatePicker
        allowClear={false}
        value={dayjs(`${day}T12:00`)}
        format="YYYY-MM-DD"
        onChange={(value) => value && onChange(value.format('YYYY-MM-DD'))}
        aria-label={t('board.day')}
        data-testid="board-day"
      />
      <Tooltip title={t('board.next')}>
        <Button icon={<RightOutlined />} onClick={() => onChange(shiftDay(day, 1))} aria-label={t('board.next')} />
      </Tooltip>
      <Button onClick={() => onChange(todayInChina())}>{t('board.today')}</Button>
    </Space.Compact>
  );
}
