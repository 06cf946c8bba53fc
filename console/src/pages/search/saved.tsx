/**
 * Saved searches: the current query, ledger and time range under a name, kept in this browser's
 * localStorage under the server's origin and the signed-in key's id (another key, or another server,
 * has its own list). Nothing is sent to the server; the key itself is never stored.
 */
import { useId, useState } from 'preact/hooks';
import { href } from '../../router.js';
import { useSession } from '../../session.js';
import { MAX_NAME, readSaved, savedKey, withSaved, type SavedSearch, type SearchParams } from './model.js';

export function SavedSearches({ current }: { current: SearchParams }) {
  const { key } = useSession();
  const id = useId();
  const storageKey = savedKey(location.origin, key.id);
  const [list, setList] = useState<SavedSearch[]>(() => readSaved(localStorage, storageKey));
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);

  const store = (next: SavedSearch[]) => {
    try {
      localStorage.setItem(storageKey, JSON.stringify(next));
      setList(next);
      setProblem(undefined);
    } catch (error) {
      setProblem(`the browser refused to store saved searches: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const save = (e: Event) => {
    e.preventDefault();
    const trimmed = name.trim();
    if (!trimmed) {
      setProblem('give the search a name');
      return;
    }
    // Another tab may have saved meanwhile: start from what is stored now.
    store(withSaved(readSaved(localStorage, storageKey), { ...current, name: trimmed, saved_at: new Date().toISOString() }));
    setName('');
  };

  return (
    <section class="saved card" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Saved searches</h2>
      <form class="row" onSubmit={save}>
        <label for={`${id}-name`}>Name</label>
        <input id={`${id}-name`} value={name} maxLength={MAX_NAME} onInput={(e) => setName(e.currentTarget.value)} />
        <button type="submit">Save search</button>
      </form>
      {problem ? <p class="error">{problem}</p> : null}
      {list.length === 0 ? (
        <p class="muted">None saved yet. They are kept in this browser, for this key.</p>
      ) : (
        <ul class="saved-list">
          {list.map((saved) => (
            <li key={saved.name}>
              <a href={href('search', { q: saved.q, ledger: saved.ledger, from: saved.from, to: saved.to })} title={describe(saved)}>
                {saved.name}
              </a>
              <span class="muted mono saved-query">{describe(saved)}</span>
              <button type="button" class="link" aria-label={`Delete saved search ${saved.name}`} onClick={() => store(readSaved(localStorage, storageKey).filter((s) => s.name !== saved.name))}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function describe(saved: SearchParams): string {
  const parts = [saved.q || '(everything)', saved.ledger ? `in ${saved.ledger}` : 'in all ledgers'];
  if (saved.from || saved.to) parts.push(`${saved.from || '…'} – ${saved.to || 'now'}`);
  return parts.join(' · ');
}
