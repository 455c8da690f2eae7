import { AimOutlined } from '@ant-design/icons';
import { useQuery } from '@tanstack/react-query';
import { Button, Input, Modal, Select, Space, Spin, Tag, Typography } from 'antd';
import { lazy, Suspense, useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';

import { getJson, type KnownPlace, type Place } from '../api';

// MapLibre is large: the small map loads only when someone picks a place on it.
const PlaceMap = lazy(() => import('./PlaceMap'));

/** Known places answering a search (`GET /places?q=`), as the search box lists them. */
function usePlaces(q: string) {
  return useQuery({
    queryKey: ['places', q],
    queryFn: ({ signal }) => getJson<KnownPlace[]>(`/places?q=${encodeURIComponent(q)}&limit=10`, signal),
    staleTime: 60 * 1000,
    retry: false,
  });
}

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** A place's key in the list: its coordinates and name (two places may share a name, or a spot). */
export function placeKey(place: { lat: number; lon: number; address?: string; name?: string }): string {
  return `${place.lat.toFixed(6)},${place.lon.toFixed(6)},${place.address ?? place.name ?? ''}`;
}

export function isPlace(value: unknown): value is Place {
  const place = value as Partial<Place> | null | undefined;
  return (
    typeof place?.lat === 'number' &&
    typeof place.lon === 'number' &&
    typeof place.address === 'string' &&
    place.address.trim() !== ''
  );
}

/**
 * A pickup or drop-off: chosen among the known places by searching (agencies' yards, depots, places of earlier
 * trips), or by clicking a small map and naming the spot. The value is the API's place `{lat, lon, address}`.
 */
export default function PlaceInput({
  id,
  value,
  onChange,
  testId,
  status,
}: {
  id?: string;
  value?: Place | null;
  onChange?: (place: Place | null) => void;
  testId: string;
  status?: '' | 'error' | 'warning';
}) {
  const { t } = useTranslation();
  const [search, setSearch] = useState('');
  const q = useDebounced(search, 250);
  const places = usePlaces(q);
  const [mapOpen, setMapOpen] = useState(false);
  const [picked, setPicked] = useState<{ lat: number; lon: number } | null>(null);
  const [address, setAddress] = useState('');

  const known = useMemo(() => places.data ?? [], [places.data]);
  const options = useMemo(() => {
    const listed = known.map((place) => ({
      value: placeKey(place),
      label: (
        <Space size={4}>
          <span>{place.name}</span>
          <Tag bordered={false} style={{ marginInlineEnd: 0 }}>
            {t(`book.kinds.${place.kind === 'agency' || place.kind === 'depot' ? place.kind : 'trip'}`)}
          </Tag>
        </Space>
      ),
      place: { lat: place.lat, lon: place.lon, address: place.name },
    }));
    if (value && !listed.some((o) => o.value === placeKey(value))) {
      listed.unshift({ value: placeKey(value), label: <span>{value.address}</span>, place: value });
    }
    return listed;
  }, [known, value, t]);

  const openMap = () => {
    setPicked(value ? { lat: value.lat, lon: value.lon } : null);
    setAddress(value?.address ?? '');
    setMapOpen(true);
  };

  const confirmMap = () => {
    if (!picked) return;
    const name = address.trim() || t('book.mapAddress', { lat: picked.lat.toFixed(5), lon: picked.lon.toFixed(5) });
    onChange?.({ lat: picked.lat, lon: picked.lon, address: name.slice(0, 200) });
    setMapOpen(false);
  };

  return (
    <>
      <Space.Compact style={{ width: '100%' }}>
        <Select
          {...(id === undefined ? {} : { id })}
          showSearch={{ filterOption: false, onSearch: setSearch }}
          allowClear
          status={status ?? ''}
          placeholder={t('book.searchPlace')}
          value={value ? placeKey(value) : null}
          notFoundContent={places.isFetching ? <Spin size="small" /> : t('book.noPlace')}
          options={options.map(({ value: key, label }) => ({ value: key, label }))}
          onChange={(key: string | null | undefined) => {
            const chosen = options.find((o) => o.value === key);
            onChange?.(chosen ? chosen.place : null);
          }}
          data-testid={testId}
          style={{ flex: 1, minWidth: 0 }}
        />
        <Button icon={<AimOutlined />} onClick={openMap} data-testid={`${testId}-map`}>
          {t('book.pickOnMap')}
        </Button>
      </Space.Compact>
      {value && (
        <Typography.Text type="secondary" style={{ fontSize: 12 }} data-testid={`${testId}-coordinates`}>
          {value.lat.toFixed(5)}, {value.lon.toFixed(5)}
        </Typography.Text>
      )}
      <Modal
        title={t('book.mapTitle')}
        open={mapOpen}
        onCancel={() => setMapOpen(false)}
        onOk={confirmMap}
        okButtonProps={{ disabled: picked === null }}
        okText={t('book.usePlace')}
        cancelText={t('app.cancel')}
        width={720}
        destroyOnHidden
      >
        <Typography.Paragraph type="secondary">{t('book.mapHint')}</Typography.Paragraph>
        <Suspense fallback={<Spin style={{ display: 'block', margin: '120px auto' }} />}>
          <PlaceMap value={picked} onPick={setPicked} places={known} />
        </Suspense>
        <Typography.Text strong style={{ display: 'block', marginTop: 12, marginBottom: 4 }}>
          {t('book.address')}
        </Typography.Text>
        <Input
          maxLength={200}
          value={address}
          onChange={(event) => setAddress(event.target.value)}
          placeholder={t('book.addressPlaceholder')}
          data-testid={`${testId}-address`}
        />
        {picked && (
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {picked.lat.toFixed(5)}, {picked.lon.toFixed(5)}
          </Typography.Text>
        )}
      </Modal>
    </>
  );
}
