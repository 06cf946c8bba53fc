/**
 * The search box: a combobox (WAI-ARIA 1.2 pattern) offering the language's keys as a key prefix is
 * typed, and the values of closed-domain keys after their colon; arrows move, Enter or Tab accepts,
 * Escape closes. The core's parser runs on every change: its message is shown under the box with the
 * offending span marked, and the box is marked invalid.
 */
import { useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { checkQuery, completionAt, type Completion } from './model.js';

export function QueryBox({ value, onInput, problem }: { value: string; onInput(value: string): void; problem: ReturnType<typeof checkQuery> }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [completion, setCompletion] = useState<Completion | undefined>(undefined);
  const [active, setActive] = useState(0);
  const pendingCaret = useRef<number | undefined>(undefined);
  // The text as typed here: a value set from outside (a facet, a saved search) closes the list.
  const typed = useRef(value);
  useEffect(() => {
    if (value !== typed.current) {
      typed.current = value;
      setCompletion(undefined);
    }
  }, [value]);

  useLayoutEffect(() => {
    if (pendingCaret.current !== undefined && input.current) {
      input.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = undefined;
    }
  });

  const refresh = (text: string, caret: number | null) => {
    const next = caret === null ? undefined : completionAt(text, caret);
    setCompletion(next);
    setActive(0);
  };

  const accept = (index: number) => {
    if (!completion) return;
    const item = completion.items[index];
    if (!item) return;
    const text = value.slice(0, completion.start) + item.insert + value.slice(completion.end);
    const caret = completion.start + item.insert.length;
    pendingCaret.current = caret;
    typed.current = text;
    onInput(text);
    // A key's values may follow at once (outcome: → success, failure).
    refresh(text, caret);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (!completion) {
      if (e.key === 'ArrowDown' && input.current) refresh(value, input.current.selectionStart);
      return;
    }
    const count = completion.items.length;
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((a) => (a + 1) % count);
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((a) => (a - 1 + count) % count);
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      accept(active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      setCompletion(undefined);
    }
  };

  const listId = `${id}-keys`;
  const errorId = `${id}-error`;
  const open = completion !== undefined;
  return (
    <div class="query-box">
      <label for={`${id}-input`}>Search</label>
      <div class="query-input">
        <input
          ref={input}
          id={`${id}-input`}
          type="text"
          role="combobox"
          aria-autocomplete="list"
          aria-expanded={open}
          aria-controls={listId}
          aria-activedescendant={open ? `${listId}-${active}` : undefined}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? errorId : undefined}
          autocomplete="off"
          autocapitalize="off"
          spellcheck={false}
          maxLength={2000}
          placeholder="actor:alice action:file.* -outcome:success"
          value={value}
          onInput={(e) => {
            const target = e.currentTarget;
            typed.current = target.value;
            onInput(target.value);
            refresh(target.value, target.selectionStart);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => setCompletion(undefined)}
          onClick={(e) => refresh(value, e.currentTarget.selectionStart)}
        />
        <ul id={listId} role="listbox" aria-label="Query keys" class="completion" hidden={!open}>
          {completion?.items.map((item, index) => (
            <li
              key={item.label}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === active}
              class={index === active ? 'active' : undefined}
              // mousedown, not click: the input keeps its focus (blur would close the list first).
              onMouseDown={(e) => {
                e.preventDefault();
                accept(index);
              }}
            >
              <span class="mono">{item.label}</span> <span class="muted">{item.description}</span>
            </li>
          ))}
        </ul>
      </div>
      <div class="query-problem" aria-live="polite">
        {problem ? (
          <>
            <p id={errorId} class="error query-message">
              {problem.message}
            </p>
            <p class="query-echo mono" aria-hidden="true">
              {value.slice(0, problem.position)}
              <mark class={problem.length === 0 ? 'missing' : undefined}>{problem.length === 0 ? ' ' : value.slice(problem.position, problem.position + problem.length)}</mark>
              {value.slice(problem.position + problem.length)}
            </p>
          </>
        ) : null}
      </div>
    </div>
  );
}
