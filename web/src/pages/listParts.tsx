import { Alert } from 'antd';
import type { TablePaginationConfig } from 'antd/es/table';
import type { HTMLAttributes, KeyboardEvent, ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError } from '../api';
import { useErrorText } from '../errors';
import { PAGE_SIZES } from '../paging';

/**
 * The parts every list paged on the server shares (the trips, the supervisor's findings, the admin's vehicles): rows
 * that open their record from the mouse or the keyboard, the paging written to the address, and why the list did not
 * load.
 */

/**
 * A table row that opens something, as a click does, from the keyboard too: a Tab stop that Enter or Space opens.
 * It stays a row (its cells are read as cells); `attributes` name it for tests and styles.
 */
export function openingRow(open: () => void, attributes: Record<string, string | number>): HTMLAttributes<HTMLElement> {
  return {
    ...attributes,
    tabIndex: 0,
    className: 'gongche-opening-row',
    onClick: open,
    onKeyDown: (event: KeyboardEvent<HTMLElement>) => {
      if (event.target !== event.currentTarget) return; // a key meant for something inside the row
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open();
      }
    },
  } as HTMLAttributes<HTMLElement>;
}

/** The table's paging, from and to the address's `page` and `size` (a new size goes back to the first page). */
export function serverPagination(
  view: { page: number; size: number },
  total: number,
  update: (changes: { page?: number; size?: number }) => void,
  showTotal: (count: number) => ReactNode,
): TablePaginationConfig {
  return {
    current: view.page,
    pageSize: view.size,
    total,
    pageSizeOptions: PAGE_SIZES,
    showSizeChanger: true,
    showTotal,
    onChange: (page, size) => update(size === view.size ? { page } : { page: 1, size }),
  };
}

/**
 * Why the list did not load: the caller may not read it (403, said in `forbidden`'s words), or anything else but a
 * refusal already shown under the filter it names (`placed`).
 */
export function ListFailure({
  error,
  placed,
  forbidden,
  testId,
}: {
  error: Error | null;
  placed: boolean;
  forbidden: string;
  testId: string;
}) {
  const { t } = useTranslation();
  const describe = useErrorText();
  if (error === null) return null;
  if (error instanceof ApiError && error.status === 403) {
    return <Alert type="info" showIcon title={forbidden} style={{ marginBottom: 16 }} />;
  }
  if (placed) return null;
  return (
    <Alert
      type="error"
      showIcon
      title={t('errors.load', { detail: describe(error) })}
      style={{ marginBottom: 16 }}
      data-testid={testId}
    />
  );
}
