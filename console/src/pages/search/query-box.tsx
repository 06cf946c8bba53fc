/**
 * The search box: a combobox (WAI-ARIA 1.2 pattern) offering the language's keys as a key prefix is
 * typed, and the values of closed-domain keys after their colon; arrows move, Enter or Tab accepts,
 * Escape closes. The core's parser runs on every change: its message is shown under the box with the
 * offending span marked, and the box is marked invalid.
 */
import { useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { checkQuery, completionAt, type Completion } from './model.js';

export function QueryBox({ value, onInput, problem }: { value: string; onInput(value: string): void; problem: ReturnType<typeof checkQuery> }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  // The list lives in a ref as well as in what is rendered: keys typed faster than a render (Tab right
  // after a letter) must act on the list for the text as it is now, not as last drawn.
  const list = useRef<{ completion: Completion | undefined; active: number }>({ completion: undefined, active: 0 });
  const [, redraw] = useState(0);
  const show = (completion: Completion | undefined, active = 0) => {
    list.current = { completion, active };
    redraw((n) => n + 1);
  };
  const pendingCaret = useRef<number | undefined>(undefined);
  // The text as typed here: a value set from outside (a facet, a saved search) closes the list.
  const typed = useRef(value);
  if (value !== typed.current) {
    typed.current = value;
    list.current = { completion: undefined, active: 0 };
  }

  useLayoutEffect(() => {
    if (pendingCaret.current !== undefined && input.current) {
      input.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = undefined;
    }
  });

  const refresh = (text: string, caret: number | null) => show(caret === null ? undefined : completionAt(text, caret));

  const accept = (index: number) => {
    const { completion } = list.current;
    const item = completion?.items[index];
    if (!completion || !item) return;
    const now = typed.current;
    const text = now.slice(0, completion.start) + item.insert + now.slice(completion.end);
    const caret = completion.start + item.insert.length;
    pendingCaret.current = caret;
    typed.current = text;
    if (input.current) {
      input.current.value = text;
      input.current.setSelectionRange(caret, caret);
    }
    onInput(text);
    // A key's values may follow at once (outcome: → success, failure).
    refresh(text, caret);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const { completion, active } = list.current;
    if (!completion) {
      if (e.key === 'ArrowDown' && input.current) refresh(input.current.value, input.current.selectionStart);
      return;
    }
    const count = completion.items.length;
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      show(completion, (active + 1) % count);
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      show(completion, (active - 1 + count) % count);
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      accept(active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      show(undefined);
    }
  };

  const { completion, active } = list.current;
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
          onBlur={() => show(undefined)}
          onClick={(e) => refresh(e.currentTarget.value, e.currentTarget.selectionStart)}
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
