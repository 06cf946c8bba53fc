/**
 * An offline world map drawn as SVG: Natural Earth's 1:110m countries (the `world-atlas` package's
 * TopoJSON, bundled into a chunk of its own and loaded on first use, never from another host),
 * projected with d3-geo's Natural Earth projection. Points are placed by latitude and longitude; lines
 * follow the great circle between two points. The box keeps its aspect ratio from the first paint, so
 * nothing moves when the countries arrive.
 */
import { geoGraticule10, geoNaturalEarth1, geoPath, type GeoPermissibleObjects } from 'd3-geo';
import type { FeatureCollection, Geometry } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import { useEffect, useMemo, useState } from 'preact/hooks';
import './world-map.css';

export interface MapPoint {
  id: string;
  latitude: number;
  longitude: number;
  /** Shown next to the point and in its tooltip. */
  label: string;
  /** Drawn in the warning colour. */
  flagged?: boolean;
}

export interface MapLine {
  id: string;
  from: { latitude: number; longitude: number };
  to: { latitude: number; longitude: number };
  /** Shown at the line's middle (e.g. a speed). */
  label?: string;
  flagged?: boolean;
}

const WIDTH = 960;
const HEIGHT = 500;

type Countries = FeatureCollection<Geometry>;
let countriesPromise: Promise<Countries> | undefined;

/** The countries, loaded once per page from the bundled TopoJSON. */
function loadCountries(): Promise<Countries> {
  countriesPromise ??= import('world-atlas/countries-110m.json').then((module) => {
    const topology = (module.default ?? module) as unknown as Topology<{ countries: GeometryCollection }>;
    return feature(topology, topology.objects.countries) as unknown as Countries;
  });
  return countriesPromise;
}

export function WorldMap({ points, lines = [], label, caption }: { points: MapPoint[]; lines?: MapLine[]; label: string; caption?: string }) {
  const [countries, setCountries] = useState<Countries | undefined>(undefined);
  const [failed, setFailed] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    loadCountries().then(
      (loaded) => live && setCountries(loaded),
      (error: unknown) => live && setFailed(error instanceof Error ? error.message : String(error)),
    );
    return () => {
      live = false;
    };
  }, []);
  const projection = useMemo(() => geoNaturalEarth1().fitExtent([[8, 8], [WIDTH - 8, HEIGHT - 8]], { type: 'Sphere' }), []);
  const path = useMemo(() => geoPath(projection), [projection]);
  const draw = (object: GeoPermissibleObjects) => path(object) ?? undefined;
  return (
    <figure class="world-map">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label} preserveAspectRatio="xMidYMid meet">
        <title>{label}</title>
        <path class="sphere" d={draw({ type: 'Sphere' })} />
        <path class="graticule" d={draw(geoGraticule10())} />
        {countries ? <g class="countries">{countries.features.map((country, i) => <path key={String(country.id ?? i)} d={draw(country)} />)}</g> : null}
        <g class="lines">
          {lines.map((line) => {
            const geometry = { type: 'LineString' as const, coordinates: [[line.from.longitude, line.from.latitude], [line.to.longitude, line.to.latitude]] };
            const middle = projection(midpoint(line.from, line.to));
            return (
              <g key={line.id} class={line.flagged ? 'line flagged' : 'line'}>
                <path d={draw(geometry)} />
                {line.label && middle ? (
                  <text x={middle[0]} y={middle[1] - 6} text-anchor="middle">
                    {line.label}
                  </text>
                ) : null}
              </g>
            );
          })}
        </g>
        <g class="points">
          {points.map((point) => {
            const at = projection([point.longitude, point.latitude]);
            if (!at) return null;
            return (
              <g key={point.id} class={point.flagged ? 'point flagged' : 'point'} transform={`translate(${at[0].toFixed(1)} ${at[1].toFixed(1)})`}>
                <circle r="5">
                  <title>{point.label}</title>
                </circle>
                <text x="8" y="4">
                  {point.label}
                </text>
              </g>
            );
          })}
        </g>
      </svg>
      <figcaption class="muted">
        {failed ? `The map's country outlines did not load (${failed}); the points are still placed. ` : ''}
        {caption ? `${caption} ` : ''}Map data: Natural Earth (public domain), via world-atlas.
      </figcaption>
    </figure>
  );
}

/** The point halfway along the great circle, as [longitude, latitude] for the projection. */
function midpoint(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): [number, number] {
  const rad = Math.PI / 180;
  const [φ1, λ1, φ2, λ2] = [a.latitude * rad, a.longitude * rad, b.latitude * rad, b.longitude * rad];
  const bx = Math.cos(φ2) * Math.cos(λ2 - λ1);
  const by = Math.cos(φ2) * Math.sin(λ2 - λ1);
  const φ = Math.atan2(Math.sin(φ1) + Math.sin(φ2), Math.sqrt((Math.cos(φ1) + bx) ** 2 + by ** 2));
  const λ = λ1 + Math.atan2(by, Math.cos(φ1) + bx);
  return [(((λ / rad + 540) % 360) - 180), φ / rad];
}
