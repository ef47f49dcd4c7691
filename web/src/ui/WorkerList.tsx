// The worker list (guide: "Worker Card Indicators"): search by sid/note/node, filters by
// execution mode, priority, scope and status, and a virtualised list — only the cards in
// view are in the DOM, so thousands of workers scroll smoothly. Keys: ↑/↓ move, Enter
// opens, Delete asks to delete.
import type { RefObject } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { filterWorkers, isFiltering, type WorkerFilter } from '../logic/filters';
import { statusView } from '../logic/status';
import { formatAge } from '../logic/stats';
import { scrollToRow, virtualWindow } from '../logic/virtual';
import { EXECUTION_MODES, PRIORITIES, SCOPES, type Worker } from '../types';

export const ROW_HEIGHT = 132;

interface Props {
  workers: Worker[];
  loaded: boolean;
  filter: WorkerFilter;
  onFilter: (f: WorkerFilter) => void;
  selected: string | null;
  onSelect: (sid: string) => void;
  onDelete: (sid: string) => void;
  fresh: ReadonlySet<string>; // created in the last seconds: the NEW badge
  searchRef: RefObject<HTMLInputElement>;
}

export function WorkerList(p: Props) {
  const shown = useMemo(() => filterWorkers(p.workers, p.filter), [p.workers, p.filter]);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [cursor, setCursor] = useState<string | null>(null);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // Keep the selected worker in view (a new worker is selected when created).
  useEffect(() => {
    const i = shown.findIndex((w) => w.sid === p.selected);
    const el = scroller.current;
    if (i < 0 || !el) return;
    const top = scrollToRow(i, ROW_HEIGHT, el.scrollTop, el.clientHeight);
    if (top !== el.scrollTop) el.scrollTop = top;
  }, [p.selected, shown.length]);

  const win = virtualWindow(shown.length, ROW_HEIGHT, scrollTop, height);
  const active = cursor ?? p.selected;
  const set = (patch: Partial<WorkerFilter>) => p.onFilter({ ...p.filter, ...patch });

  function onKey(e: KeyboardEvent) {
    if (shown.length === 0) return;
    const i = Math.max(0, shown.findIndex((w) => w.sid === active));
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const next = e.key === 'ArrowDown' ? Math.min(shown.length - 1, i + 1) : Math.max(0, i - 1);
      setCursor(shown[next].sid);
      const el = scroller.current!;
      el.scrollTop = scrollToRow(next, ROW_HEIGHT, el.scrollTop, el.clientHeight);
    } else if (e.key === 'Enter' && active) {
      e.preventDefault();
      p.onSelect(active);
      setCursor(null);
    } else if (e.key === 'Delete' && active) {
      e.preventDefault();
      p.onDelete(active);
    }
  }

  return (
    <div class="list-pane">
      <div class="list-tools">
        <input
          ref={p.searchRef}
          data-testid="worker-search"
          type="search"
          placeholder="Search sid, note, node…  ( / )"
          value={p.filter.search}
          onInput={(e) => set({ search: (e.target as HTMLInputElement).value })}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') {
              e.preventDefault();
              scroller.current?.focus();
            }
          }}
        />
        <div class="filters">
          <Select testid="filter-execution-mode" label="All modes" value={p.filter.executionMode} options={EXECUTION_MODES} onChange={(v) => set({ executionMode: v as WorkerFilter['executionMode'] })} />
          <Select testid="filter-priority" label="All priorities" value={p.filter.priority} options={PRIORITIES} onChange={(v) => set({ priority: v as WorkerFilter['priority'] })} />
          <Select testid="filter-scope" label="All scopes" value={p.filter.scope} options={SCOPES} onChange={(v) => set({ scope: v as WorkerFilter['scope'] })} />
          <Select
            testid="filter-status"
            label="Any status"
            value={p.filter.status}
            options={['active', 'inactive', 'running', 'waiting', 'failed']}
            onChange={(v) => set({ status: v as WorkerFilter['status'] })}
          />
        </div>
      </div>
      <div class="list-count" data-testid="worker-count">
        {p.loaded ? (isFiltering(p.filter) ? `${shown.length} of ${p.workers.length} workers` : `${p.workers.length} workers`) : 'Loading workers…'}
      </div>
      <div
        class="list-scroll"
        ref={scroller}
        tabIndex={0}
        data-testid="worker-list"
        role="listbox"
        aria-label="Workers"
        onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}
        onKeyDown={onKey}
      >
        {p.loaded && shown.length === 0 && (
          <div class="empty" data-testid="worker-list-empty">
            {p.workers.length === 0 ? 'No workers yet. Click “+ AI PROTOCOL” to create one from a template.' : 'No worker matches.'}
          </div>
        )}
        <div style={{ height: `${win.totalHeight}px`, position: 'relative' }}>
          {shown.slice(win.start, win.end).map((w, k) => (
            <Card
              key={w.sid}
              w={w}
              top={(win.start + k) * ROW_HEIGHT + 6}
              selected={w.sid === p.selected}
              focused={w.sid === cursor}
              fresh={p.fresh.has(w.sid)}
              onSelect={() => {
                setCursor(null);
                p.onSelect(w.sid);
              }}
              onDelete={() => p.onDelete(w.sid)}
            />
          ))}
        </div>
      </div>
    </div>
  );
}

function Select(props: { testid: string; label: string; value: string; options: readonly string[]; onChange: (v: string) => void }) {
  return (
    <select data-testid={props.testid} aria-label={props.label} value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
      <option value="">{props.label}</option>
      {props.options.map((o) => (
        <option key={o} value={o}>
          {o}
        </option>
      ))}
    </select>
  );
}

function firstCodeLine(script: string): string {
  for (const line of script.split('\n', 40)) {
    const t = line.trim();
    if (t) return t;
  }
  return '';
}

function Card(props: { w: Worker; top: number; selected: boolean; focused: boolean; fresh: boolean; onSelect: () => void; onDelete: () => void }) {
  const { w } = props;
  const v = statusView(w);
  const r = w.record;
  return (
    <div
      class={`card${props.selected ? ' selected' : ''}`}
      style={{ top: `${props.top}px`, outline: props.focused ? '2px solid var(--accent)' : undefined }}
      data-testid="worker-card"
      data-sid={w.sid}
      data-status={w.status}
      data-active={r ? String(r.active) : 'invalid'}
      role="option"
      aria-selected={props.selected}
      onClick={props.onSelect}
    >
      <div class="row">
        <span title="worker">📄</span>
        <span class="mono ellipsis grow" data-testid="worker-card-sid" title={w.sid}>
          {w.sid}
        </span>
        {props.fresh && (
          <span class="new" data-testid="worker-card-new">
            NEW
          </span>
        )}
        {v.leader && (
          <span title="leader mode" data-testid="worker-card-crown">
            👑
          </span>
        )}
        <span class={`dot tone-${v.tone}${v.pulse ? ' pulse' : ''}`} title={v.label} data-testid="worker-card-dot" data-tone={v.tone} />
        <span class={`badge tone-${v.badgeTone}`} data-testid="worker-card-status">
          {v.badge}
        </span>
        <button
          class="ghost card-delete"
          title="Delete worker"
          aria-label="Delete worker"
          data-testid="worker-card-delete"
          onClick={(e) => {
            e.stopPropagation();
            props.onDelete();
          }}
        >
          🗑️
        </button>
      </div>
      <div class="note ellipsis" title={r?.note ?? w.error}>
        📝 {r ? r.note || <span class="muted">(no note)</span> : <span class="error-text">{w.error ?? 'unreadable record'}</span>}
      </div>
      <div class="meta">
        {r && (
          <>
            <span title="node that created it">🌐 {r.assignedNode ?? r.nid}</span>
            <span title="version"># v{r.version}</span>
            <span title={`${r.executionMode} · ${r.priority} · ${r.mode}`}>📦 {r.executionMode}/{r.priority}</span>
            <span title="scope">{r.scope}</span>
            <span title="last modified">⏰ {formatAge(Date.now() - r.timestamp)}</span>
          </>
        )}
        <span class="ellipsis" title={w.status}>
          {v.label}
        </span>
      </div>
      <div class="preview">{r ? firstCodeLine(r.script) : ''}</div>
    </div>
  );
}
