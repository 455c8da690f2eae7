import moment from 'moment';
import 'moment/locale/zh-cn';
import { useEffect, useRef } from 'react';
import { DataSet } from 'vis-data/peer';
import { Timeline, type DataItem, type TimelineOptions } from 'vis-timeline/peer';
import 'vis-timeline/styles/vis-timeline-graph2d.css';

import type { Trip } from '../api';
import type { Language } from '../i18n';
import { CHINA_TIMELINE } from '../timeline';
import { label, type Vocabularies } from '../vocabulary';

/** UTC+8 all year: China has no daylight saving, so a fixed offset is China time. */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function tripItems(trips: Trip[], vocabularies: Vocabularies | undefined, language: Language): DataItem[] {
  return trips.map((trip) => {
    // vis-timeline writes content as HTML: the purpose is the requester's text, so it is escaped here.
    const text = escapeHtml(`#${trip.id} ${trip.purpose} · ${label(vocabularies, 'trip_status', trip.status, language)}`);
    return {
      id: trip.id,
      start: trip.assignment?.starts_at ?? trip.earliest_pickup,
      end: trip.assignment?.ends_at ?? trip.latest_pickup,
      type: 'range',
      content: text,
      title: text, // the whole line on hover, where a short range cuts it
      className: `trip-${trip.status}`,
    };
  });
}

/**
 * The trips on a timeline (vis-timeline, its "peer" build with moment), in China time and 24-hour whatever the
 * browser's zone. The day board of the next release builds on this, with one group per vehicle.
 */
export default function TripTimeline({
  trips,
  language,
  vocabularies,
}: {
  trips: Trip[];
  language: Language;
  vocabularies: Vocabularies | undefined;
}) {
  const container = useRef<HTMLDivElement>(null);
  const timeline = useRef<Timeline | null>(null);
  const items = useRef(new DataSet<DataItem>());

  useEffect(() => {
    if (!container.current) return;
    const options: TimelineOptions = {
      ...CHINA_TIMELINE,
      stack: true,
      orientation: 'top',
      zoomMin: 15 * 60 * 1000,
      margin: { item: 6 },
    };
    timeline.current = new Timeline(container.current, items.current, options);
    return () => {
      timeline.current?.destroy();
      timeline.current = null;
    };
  }, []);

  useEffect(() => {
    timeline.current?.setOptions({ locale: language === 'en' ? 'en' : 'zh-cn' });
    moment.locale(language === 'en' ? 'en' : 'zh-cn');
    items.current.clear();
    items.current.add(tripItems(trips, vocabularies, language));
    timeline.current?.fit({ animation: false });
  }, [trips, vocabularies, language]);

  return <div ref={container} data-testid="trip-timeline" />;
}
