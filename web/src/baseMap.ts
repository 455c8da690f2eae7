import { addProtocol } from 'maplibre-gl';
import { PMTiles, Protocol, TileType } from 'pmtiles';

import type { MapConfig } from './api';
import { styleFor, type ArchiveKind, type Style } from './mapStyle';

/**
 * The deployment's base map as a MapLibre style (`GET /console/config`): its tile template, its PMTiles archive (the
 * app serves it from its own origin, read by HTTP range requests through the `pmtiles://` protocol), or the plain
 * background when it names neither, or when there is no config at all.
 */

let protocol: Protocol | null = null;

/** The `pmtiles://` protocol, registered with MapLibre once for the page. */
function pmtilesProtocol(): Protocol {
  if (protocol === null) {
    protocol = new Protocol();
    addProtocol('pmtiles', protocol.tile);
  }
  return protocol;
}

/** The style for `config`; an archive's header is read first, to know whether it holds images or vector tiles. */
export async function loadBaseStyle(config: MapConfig | null | undefined, origin = window.location.origin): Promise<Style> {
  const base = {
    tiles: config?.tiles ?? null,
    pmtiles: config?.pmtiles ?? null,
    attribution: config?.attribution ?? null,
    max_zoom: config?.max_zoom ?? null,
  };
  let kind: ArchiveKind | null = null;
  if (!base.tiles && base.pmtiles) {
    const archive = new PMTiles(new URL(base.pmtiles, origin).href);
    pmtilesProtocol().add(archive);
    const header = await archive.getHeader();
    kind = header.tileType === TileType.Mvt ? 'vector' : 'raster';
  }
  return styleFor(base, origin, kind);
}
