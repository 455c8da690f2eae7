import { Map as MapLibre, Marker, NavigationControl, ScaleControl } from 'maplibre-gl';
import { useEffect, useRef } from 'react';

import { useConsoleConfig, type KnownPlace } from '../api';
import { HOME, loadBaseStyle } from '../baseMap';
import { displayTransform, gcj02ToWgs84 } from '../dispatcher/gcj02';
import { plainStyle } from '../mapStyle';


/**
 * A small map to pick a spot by clicking it: the deployment's base map (`GET /console/config`) or the plain
 * background, the known places as grey dots (a click on one takes it), the spot picked in red. Coordinates given
 * and answered are WGS-84; on a GCJ-02 base map they are shifted for display and the click shifted back.
 */
export default function PlaceMap({
  value,
  onPick,
  places,
}: {
  value: { lat: number; lon: number } | null;
  onPick: (point: { lat: number; lon: number }) => void;
  places: KnownPlace[];
}) {
  const config = useConsoleConfig();
  const ready = !config.isPending;
  const map = config.data?.map ?? null;
  const crs = map?.crs ?? 'wgs84';
  const container = useRef<HTMLDivElement>(null);
  const instance = useRef<MapLibre | null>(null);
  const marker = useRef<Marker | null>(null);
  const pick = useRef(onPick);
  pick.current = onPick;

  useEffect(() => {
    if (!container.current || !ready) return;
    const show = displayTransform(crs);
    const start = value ? show([value.lon, value.lat]) : (map?.center ?? HOME);
    const created = new MapLibre({
      container: container.current,
      style: plainStyle(), // at once; the deployment's base map replaces it once known (an archive's header first)
      center: start,
      zoom: value ? 14 : (map?.zoom ?? 11),
      attributionControl: map?.attribution ? { compact: true } : false,
    });
    let alive = true;
    if (map?.tiles || map?.pmtiles) {
      loadBaseStyle(map)
        .then((style) => {
          if (alive) created.setStyle(style);
        })
        .catch(() => undefined); // the plain background stays: the spot can be picked all the same
    }
    created.addControl(new ScaleControl({ unit: 'metric' }), 'bottom-left');
    created.addControl(new NavigationControl({ showCompass: false }), 'top-right');
    created.getCanvas().style.cursor = 'crosshair';
    created.on('click', (event) => {
      const shown: [number, number] = [event.lngLat.lng, event.lngLat.lat];
      const [lon, lat] = crs === 'gcj02' ? gcj02ToWgs84(shown) : shown;
      pick.current({ lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) });
    });
    instance.current = created;
    return () => {
      alive = false;
      created.remove();
      instance.current = null;
      marker.current = null;
    };
    // The map is made once per base map; the picked spot and the places are drawn by the effects below.
  }, [ready, map, crs]);

  useEffect(() => {
    const current = instance.current;
    if (!current) return;
    const show = displayTransform(crs);
    const dots = places.map((place) => {
      const dot = document.createElement('button');
      dot.type = 'button';
      dot.className = 'gongche-place-dot';
      dot.title = place.name;
      dot.addEventListener('click', (event) => {
        event.stopPropagation();
        pick.current({ lat: place.lat, lon: place.lon });
      });
      return new Marker({ element: dot }).setLngLat(show([place.lon, place.lat])).addTo(current);
    });
    return () => {
      for (const dot of dots) dot.remove();
    };
  }, [places, crs, ready]);

  useEffect(() => {
    const current = instance.current;
    if (!current) return;
    marker.current?.remove();
    marker.current = null;
    if (!value) return;
    const at = displayTransform(crs)([value.lon, value.lat]);
    const created = new Marker({ color: '#c8102e' }).setLngLat(at).addTo(current);
    created.getElement().dataset.testid = 'picked-marker';
    marker.current = created;
  }, [value, crs, ready]);

  return <div ref={container} className="gongche-place-map" data-testid="place-map" />;
}
