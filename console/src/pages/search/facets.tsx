/**
 * Facets: the top values of actors, actions, countries, outcomes and IP addresses among the matches,
 * from the stats API. Each value is a button that adds `key:value` to the query. Events without the
 * field count under "(none)", which cannot be added as a term and is not a button.
 */
import { FACETS, type Bucket, type FacetBy } from './model.js';

export const FACET_LIMIT = 8;

export function Facets({ facets, loading, onRefine }: { facets: Partial<Record<FacetBy, Bucket[]>> | undefined; loading: boolean; onRefine(key: string, value: string): void }) {
  return (
    <div class="facets" aria-busy={loading}>
      {FACETS.map((facet) => {
        const buckets = facets?.[facet.by];
        const max = Math.max(1, ...(buckets ?? []).map((b) => b.count));
        return (
          <section key={facet.by} class="facet" aria-labelledby={`facet-${facet.by}`}>
            <h2 id={`facet-${facet.by}`}>{facet.title}</h2>
            <ul>
              {buckets?.length === 0 ? <li class="muted">none</li> : null}
              {buckets?.map((bucket) => {
                const label = bucket.key ?? '(none)';
                const bar = <span class="facet-bar" style={{ width: `${(bucket.count / max) * 100}%` }} />;
                return (
                  <li key={label}>
                    {bucket.key === null ? (
                      <span class="facet-value muted" title={`events without ${facet.key}`}>
                        {bar}
                        <span class="facet-label">{label}</span>
                        <span class="facet-count">{bucket.count.toLocaleString()}</span>
                      </span>
                    ) : (
                      <button type="button" class="facet-value" title={`Add ${facet.key}:${bucket.key} to the query`} onClick={() => onRefine(facet.key, bucket.key!)}>
                        {bar}
                        <span class="facet-label">{label}</span>
                        <span class="facet-count">{bucket.count.toLocaleString()}</span>
                      </button>
                    )}
                  </li>
                );
              })}
              {/* Reserve the space of a full facet while it loads. */}
              {buckets === undefined ? Array.from({ length: 3 }, (_, i) => <li key={i} class="facet-placeholder" aria-hidden="true" />) : null}
            </ul>
          </section>
        );
      })}
    </div>
  );
}
