// Small dialogs: the modal frame, delete confirmation (guide Workflow 5), Stop all with
// its summary, and toasts for action results.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { StopAllResult } from '../types';
import type { Tone } from '../logic/status';

export function Modal(props: { testid: string; title: string; wide?: boolean; onClose: () => void; children: ComponentChildren }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  return (
    <div class="overlay" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`dialog${props.wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-label={props.title} data-testid={props.testid}>
        <h2>{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}

export function DeleteDialog(props: { sid: string; note: string | null; onCancel: () => void; onConfirm: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal testid="delete-dialog" title="🗑️ Delete Worker" onClose={props.onCancel}>
      <div>Are you sure? The worker is stopped and its record removed from every node.</div>
      <div>
        Worker ID: <code data-testid="delete-sid">{props.sid}</code>
        {props.note && <div class="muted ellipsis">📝 {props.note}</div>}
      </div>
      {error && (
        <div class="error-text" data-testid="delete-error">
          {error}
        </div>
      )}
      <div class="actions">
        <button data-testid="delete-cancel" onClick={props.onCancel} autoFocus>
          Cancel
        </button>
        <button
          class="danger"
          data-testid="delete-confirm"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await props.onConfirm();
            } catch (e) {
              setError(e instanceof Error ? e.message : String(e));
              setBusy(false);
            }
          }}
        >
          {busy ? 'Deleting…' : 'Delete Worker'}
        </button>
      </div>
    </Modal>
  );
}

export function StopAllDialog(props: { running: number; total: number; onClose: () => void; onConfirm: () => Promise<StopAllResult> }) {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<StopAllResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal testid="stop-all-dialog" title="⏹ Stop all workers" onClose={props.onClose}>
      {!result ? (
        <>
          <div>
            Every worker record of this cluster is set inactive ({props.total} workers, {props.running} running here). Workers stop at the end of their current run.
          </div>
          {error && <div class="error-text">{error}</div>}
          <div class="actions">
            <button data-testid="stop-all-cancel" onClick={props.onClose}>
              Cancel
            </button>
            <button
              class="danger"
              data-testid="stop-all-confirm"
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                try {
                  setResult(await props.onConfirm());
                } catch (e) {
                  setError(e instanceof Error ? e.message : String(e));
                } finally {
                  setBusy(false);
                }
              }}
            >
              {busy ? 'Stopping…' : 'Stop all'}
            </button>
          </div>
        </>
      ) : (
        <>
          <div data-testid="stop-all-summary">
            <div data-testid="stop-all-message">
              <strong>{result.message}</strong>
            </div>
            <div class="muted">
              total <span data-testid="stop-all-total">{result.total}</span> · stopped <span data-testid="stop-all-stopped">{result.stopped}</span> · failed{' '}
              <span data-testid="stop-all-failed">{result.failed}</span>
            </div>
            {result.errors.length > 0 && (
              <ul class="error-text">
                {result.errors.map((e) => (
                  <li key={e.sid}>
                    <code>{e.sid}</code>: {e.error}
                  </li>
                ))}
              </ul>
            )}
          </div>
          <div class="actions">
            <button class="primary" data-testid="stop-all-close" onClick={props.onClose} autoFocus>
              Close
            </button>
          </div>
        </>
      )}
    </Modal>
  );
}

export interface Toast {
  id: number;
  tone: Tone;
  text: string;
}

export function Toasts(props: { toasts: Toast[]; onDismiss: (id: number) => void }) {
  return (
    <div class="toasts" aria-live="polite">
      {props.toasts.map((t) => (
        <div key={t.id} class={`toast tone-${t.tone}`} data-testid="toast" data-tone={t.tone}>
          <span class="grow">{t.text}</span>
          <button class="ghost" aria-label="Dismiss" onClick={() => props.onDismiss(t.id)}>
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}
