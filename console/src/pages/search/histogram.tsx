/**
 * Matches over time as bars (uPlot), from the stats API's hour or day buckets. Dragging across the
 * chart narrows the time range to the buckets covered; clicking a bar narrows it to that bucket. The
 * chart's space is reserved whether or not data has arrived, so the page does not move.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatLocal } from '../../ui/common.js';

export const CHART_HEIGHT = 150;

export function Histogram({ starts, counts, bucketMs, onNarrow }: { starts: number[]; counts: number[]; bucketMs: number; onNarrow(fromMs: number, toMs: number): void }) {
  const box = useRef<HTMLDivElement>(null);
  const narrow = useRef(onNarrow);
  narrow.current = onNarrow;

  useEffect(() => {
    const element = box.current;
    if (!element || starts.length === 0) return;
    const style = getComputedStyle(element);
    const accent = style.getPropertyValue('--accent').trim() || '#1f5fbf';
    const muted = style.getPropertyValue('--muted').trim() || '#5c6166';
    const grid = style.getPropertyValue('--border').trim() || '#d5d8dc';
    // The x range is the buckets' own span (uPlot widens a single point's range by years otherwise).
    const first = starts[0]!;
    const last = starts.at(-1)! + bucketMs;
    const bucketAt = (seconds: number) => Math.floor((seconds * 1000) / bucketMs) * bucketMs;
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const plot = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height: CHART_HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
        select: { show: true, left: 0, top: 0, width: 0, height: 0 },
        scales: { x: { time: true, range: () => [first / 1000, last / 1000] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [axis, { ...axis, size: 48 }],
        series: [{}, { label: 'Matches', fill: accent, stroke: accent, paths: uPlot.paths.bars!({ size: [0.9, 64] }), points: { show: false } }],
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width < 4) return;
              const from = bucketAt(u.posToVal(u.select.left, 'x'));
              const to = bucketAt(u.posToVal(u.select.left + u.select.width, 'x')) + bucketMs;
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              narrow.current(from, to);
            },
          ],
        },
      },
      // Bars centred on their bucket: x is the bucket's middle, in seconds.
      [starts.map((s) => (s + bucketMs / 2) / 1000), counts],
      element,
    );
    const onClick = () => {
      const index = plot.cursor.idx;
      if (index === null || index === undefined || plot.select.width >= 4) return;
      const start = starts[index];
      if (start !== undefined && (counts[index] ?? 0) > 0) narrow.current(start, start + bucketMs);
    };
    plot.over.addEventListener('click', onClick);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height: CHART_HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.over.removeEventListener('click', onClick);
      plot.destroy();
    };
  }, [starts, counts, bucketMs]);

  const total = counts.reduce((a, b) => a + b, 0);
  const peak = counts.reduce((best, c, i) => (c > (counts[best] ?? 0) ? i : best), 0);
  const unit = bucketMs >= 86_400_000 ? 'day' : 'hour';
  const summary =
    starts.length === 0
      ? 'No matches to chart'
      : `Matches per ${unit} from ${formatLocal(new Date(starts[0]!))} to ${formatLocal(new Date(starts.at(-1)! + bucketMs))}: ${total} in all, at most ${counts[peak]} (the ${unit} from ${formatLocal(new Date(starts[peak]!))}). Drag across the chart or click a bar to narrow the time range.`;
  return (
    <figure class="histogram">
      <div ref={box} class="histogram-plot" role="img" aria-label={summary} />
      <figcaption class="muted">
        {starts.length === 0 ? 'No matches to chart.' : `Matches per ${unit} (UTC buckets, by received time). Drag or click to narrow.`}
      </figcaption>
    </figure>
  );
}
